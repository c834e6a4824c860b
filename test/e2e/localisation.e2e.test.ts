import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customIds, ephemeralOf, finalMessageOf, startHarness, type Harness } from './bot-harness.js';
import type { FakeUser } from './fake-discord/fake-discord.js';
import { snowflake } from './fake-discord/snowflake.js';

/** A Chinese-speaking member, an English-speaking one and an admin, in a server whose Discord language is zh-CN. */
const lin: FakeUser = { id: '230000000000000001', username: 'lin', locale: 'zh-CN' };
const sam: FakeUser = { id: '230000000000000002', username: 'sam', locale: 'en-US' };
const admin: FakeUser = { id: '230000000000000003', username: 'admin', locale: 'zh-CN' };

const opt = (name: string, value: string | number, type = typeof value === 'number' ? 4 : 3) => ({ name, type, value });

describe('a zh-CN server: registration, replies and job messages in Chinese, /config language to switch', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(
      {},
      { guilds: [{ id: snowflake(), name: '画图服务器', channels: [snowflake(), snowflake()], ownerId: snowflake(), locale: 'zh-CN' }] },
    );
  });
  afterAll(async () => {
    await h?.close();
  });

  it('registers Chinese names and descriptions beside the English ones', async () => {
    const commands = await h.fake.waitFor(() => {
      const list = h.fake.commands.get(h.fake.guilds[0].id) ?? h.fake.commands.get('global');
      return list && list.length > 0 ? list : undefined;
    });
    const imagine = commands.find((c: { name: string }) => c.name === 'imagine');
    expect(imagine.name_localizations).toEqual({ 'zh-CN': '画图' });
    expect(imagine.description_localizations['zh-CN']).toMatch(/^根据提示词生成图片/);
    expect(commands.find((c: { type: number }) => c.type === 3).name_localizations).toEqual({ 'zh-CN': '用这段话画图' });
  });

  it('answers each member in their own language, whatever the server speaks', async () => {
    const chinese = h.fake.sendCommand({ name: 'imagine', user: lin, options: [opt('prompt', '一只猫 --chaos 5')] });
    expect(await ephemeralOf(h.fake, chinese.id)).toMatch(/^未知参数 `--chaos`。/);
    const english = h.fake.sendCommand({ name: 'imagine', user: sam, options: [opt('prompt', 'a cat --chaos 5')] });
    expect(await ephemeralOf(h.fake, english.id)).toMatch(/^Unknown flag `--chaos`\./);
    const help = h.fake.sendCommand({ name: 'help', user: lin });
    expect(await ephemeralOf(h.fake, help.id)).toMatch(/^\*\*\/imagine\*\* `提示词` 生成图片。/);
  });

  it("shows the queue, progress and result in the server's language, even for an English-speaking member", async () => {
    // A long job first, so the next one has to wait its turn and its queue message is seen.
    const running = h.fake.sendCommand({ name: 'imagine', user: lin, options: [opt('prompt', '灯塔'), opt('model', 'slow'), opt('steps', 40)] });
    const waiting = h.fake.sendCommand({ name: 'imagine', user: sam, options: [opt('prompt', 'a red fox --seed 42')] });
    const queued = await h.fake.waitFor(() => {
      const content = h.fake.replyOf(waiting.id)?.content;
      return content?.includes('⏳') ? content : undefined;
    });
    expect(queued).toMatch(/\n⏳ 排队中：第 1 位/);
    expect(customIds(h.fake.replyOf(waiting.id)!)[0]).toMatch(/^job:cancel:/);
    expect(h.fake.replyOf(waiting.id)!.components[0].components[0].label).toBe('取消');
    const progress = await h.fake.waitFor(() => {
      const content = h.fake.replyOf(running.id)?.content;
      return content?.includes('🎨') ? content : undefined;
    });
    expect(progress).toMatch(/\n🎨 第 \d+\/40 步 `/);
    const final = await finalMessageOf(h.fake, waiting.id);
    expect(final.content).toContain('**a red fox** — ');
    expect(final.content).toContain('种子 `42` · 64x64 · 4 步 · CFG');
    expect(final.content).not.toMatch(/Seed|steps/);
    await finalMessageOf(h.fake, running.id);
  });

  it('/config language en switches the job messages to English; auto brings Chinese back', async () => {
    const config = (language: string) =>
      h.fake.sendCommand({
        name: 'config',
        user: admin,
        admin: true,
        options: [{ name: 'language', type: 1, options: [opt('language', language)] }],
      });
    const toEnglish = config('en');
    // The admin's own answer is in the admin's language.
    expect(await ephemeralOf(h.fake, toEnglish.id)).toMatch(/^任务消息将使用English。\n\*\*默认值\*\*/);
    const english = h.fake.sendCommand({ name: 'imagine', user: lin, options: [opt('prompt', '一只猫 --seed 7')] });
    expect((await finalMessageOf(h.fake, english.id)).content).toContain('Seed `7` · 64x64 · 4 steps');

    expect(await ephemeralOf(h.fake, config('auto').id)).toMatch(/^任务消息将使用简体中文。/);
    const chinese = h.fake.sendCommand({ name: 'imagine', user: sam, options: [opt('prompt', 'a dog --seed 8')] });
    expect((await finalMessageOf(h.fake, chinese.id)).content).toContain('种子 `8` · 64x64 · 4 步');
  });

  it('a job keeps its language after a restart, whatever the setting is by then', async () => {
    const config = (language: string) =>
      ephemeralOf(
        h.fake,
        h.fake.sendCommand({
          name: 'config',
          user: admin,
          admin: true,
          options: [{ name: 'language', type: 1, options: [opt('language', language)] }],
        }).id,
      );
    // Queued in Chinese behind a long job (4 slow images); the setting changes to English; the bot restarts.
    const running = h.fake.sendCommand({
      name: 'imagine',
      user: lin,
      options: [opt('prompt', '长任务'), opt('model', 'slow'), opt('steps', 50), opt('count', 4)],
    });
    const queued = h.fake.sendCommand({ name: 'imagine', user: lin, options: [opt('prompt', '排队的任务 --seed 9')] });
    await h.fake.waitFor(() => h.fake.replyOf(queued.id)?.content.includes('⏳ 排队中') || undefined);
    await config('en');
    // Both are still unfinished when the bot stops: the queued one is restored from the store.
    expect(h.app.jobs.list(h.fake.guilds[0].id)).toHaveLength(2);
    await h.restart();
    await h.app.pool.whenReady();
    const final = await finalMessageOf(h.fake, queued.id);
    expect(final.content).toContain('种子 `9` · 64x64 · 4 步');
    expect((await finalMessageOf(h.fake, running.id)).content).toContain('种子 `');
    await config('auto');
  });
});
