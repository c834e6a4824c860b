/**
 * A Chinese-speaking server end to end through the pure parts: the member's refusals, the job message states,
 * failures (with a key, framed, internal), /config language and its `show` — each in Chinese where it should be,
 * and in English where the member or the server is English.
 */
import { MessageFlags } from 'discord.js';
import { describe, expect, it, vi } from 'vitest';
import { GuildSettingsSchema, describeSettingsIssues } from '../../src/config/guild-settings.js';
import { change, describeSettings } from '../../src/discord/commands/config.js';
import { imagineCommand } from '../../src/discord/commands/imagine.js';
import { renderCancelled, renderDone, renderFailed, renderQueued, renderRunning } from '../../src/discord/delivery/render/job-message.js';
import { memberLocale, publicLocale } from '../../src/discord/locale.js';
import { parseImagineOptions } from '../../src/discord/options/imagine-options.js';
import { CooldownTracker } from '../../src/discord/preconditions/cooldown-tracker.js';
import { replyUserError } from '../../src/discord/reply-user-error.js';
import { Identifiers, UserError } from '../../src/errors.js';
import { text } from '../../src/i18n/translate.js';
import { describeUserError } from '../../src/i18n/user-error.js';
import { limitReached, toJobFailure } from '../../src/queue/job-failure.js';
import type { Job } from '../../src/queue/job.js';
import { WorkerCrashedError } from '../../src/worker/worker-errors.js';
import { translatorMissingWarning } from '../../src/protocol/warnings.js';
import { fakeJob } from '../fixtures/jobs.js';
import { smallRequest } from '../fixtures/requests.js';

const OWNER = '200000000000000001';
const settings = GuildSettingsSchema.parse({});
const models = [{ name: 'tiny', defaults: {} }];
const zhJob = (overrides: Partial<Job> = {}): Job =>
  fakeJob({ userId: OWNER, locale: 'zh-CN', request: smallRequest({ prompt: '一只猫', steps: 20, seed: 42 }), ...overrides });
const HAN = /\p{Script=Han}/u;

describe('which language', () => {
  it('members are answered in their own Discord language, English for one the bot does not speak', () => {
    expect(memberLocale({ locale: 'zh-CN' })).toBe('zh-CN');
    expect(memberLocale({ locale: 'en-US' })).toBe('en');
    expect(memberLocale({ locale: 'fr' })).toBe('en');
  });

  it("job messages follow the server's language unless /config language says otherwise", () => {
    expect(publicLocale(settings, 'zh-CN')).toBe('zh-CN');
    expect(publicLocale(settings, 'en-US')).toBe('en');
    expect(publicLocale({ language: 'zh-CN' }, 'en-US')).toBe('zh-CN');
    expect(publicLocale({ language: 'en' }, 'zh-CN')).toBe('en');
  });
});

describe("a zh-CN member's refusals", () => {
  it('ControlNet refusals and flag mistakes come out in Chinese, names kept', () => {
    const cnModels = [{ name: 'cn', defaults: {}, controlNets: ['edges', 'depth'] }, ...models];
    const unknown = parseImagineOptions({ prompt: '一只猫', model: 'cn', controlImage: true, control: 'pose' }, { settings, models: cnModels });
    expect(!unknown.ok && describeUserError('zh-CN', unknown.error)).toBe('模型 `cn` 没有名为 `pose` 的 ControlNet；可选：`edges`, `depth`。');
    const noNets = parseImagineOptions({ prompt: '一只猫', model: 'tiny', controlImage: true }, { settings, models: cnModels });
    expect(!noNets.ok && describeUserError('zh-CN', noNets.error)).toMatch(
      /^模型 `tiny` 没有 ControlNet，无法使用控制图。请换一个有 ControlNet 的模型：`cn` \(edges, depth\)/,
    );
    const twice = parseImagineOptions({ prompt: '一只猫 --clip-skip 2 --clip-skip 3' }, { settings, models });
    expect(!twice.ok && describeUserError('zh-CN', twice.error)).toMatch(/`--clip-skip`/);
    expect(!twice.ok && twice.error.message).toBe('`--clip-skip` is given twice; keep one.');
  });

  it('option and prompt problems come out in Chinese, with the numbers and names kept', () => {
    const tooMany = parseImagineOptions({ prompt: '一只猫', steps: 500 }, { settings, models });
    expect(tooMany.ok).toBe(false);
    if (tooMany.ok) return;
    expect(describeUserError('zh-CN', tooMany.error)).toBe('步数为 500，请使用 1 到 50（本服务器的最大步数）。');
    expect(tooMany.error.message).toBe("Steps is 500; use 1 to 50 (this server's max steps).");

    const flag = parseImagineOptions({ prompt: '一只猫 --chaos 5' }, { settings, models });
    expect(!flag.ok && describeUserError('zh-CN', flag.error)).toMatch(/^未知参数 `--chaos`。请删掉它，或使用以下之一：--ar W:H/);

    const size = parseImagineOptions({ prompt: '一只猫', size: '9:1' }, { settings, models });
    expect(!size.ok && describeUserError('zh-CN', size.error)).toBe('宽高比 `9:1` 超出范围，请使用 1:4 到 4:1 之间的比例，例如 16:9。');

    const model = parseImagineOptions({ prompt: '一只猫', model: 'sdxl' }, { settings, models });
    expect(!model.ok && describeUserError('zh-CN', model.error)).toBe('未知模型 `sdxl`，可选：`tiny`。');
  });

  it('cooldowns and full queues (made below the Discord layer) are Chinese too', () => {
    const cooldowns = new CooldownTracker(() => 1_000);
    cooldowns.record('g', 'u');
    const waited = cooldowns.check('g', 'u', 30);
    expect(!waited.ok && describeUserError('zh-CN', waited.error)).toBe('本服务器两次画图之间有 30 秒冷却，请 30 秒后再试。');
    const full = limitReached({ limit: 'maxQueuedPerUser', max: 3 });
    expect(describeUserError('zh-CN', full)).toBe('你在这里已有 3 个任务在排队或生成中，已达本服务器每位成员的上限。请等其中一个完成，或取消一个。');
    expect(describeUserError('en', full)).toMatch(/^You already have 3 images queued/);
  });

  it('replyUserError answers privately in the interaction locale', async () => {
    const reply = vi.fn(async () => undefined);
    const interaction = { id: '1', guildId: 'g', locale: 'zh-CN', deferred: false, replied: false, reply, followUp: vi.fn() };
    await replyUserError(interaction as never, new UserError(Identifiers.NotFound, 'x', {}, text('error.noSuchJob')));
    expect(reply).toHaveBeenCalledWith({ content: '没有这个画图任务。', flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
    const english = { ...interaction, locale: 'en-GB', reply: vi.fn(async () => undefined) };
    await replyUserError(english as never, new UserError(Identifiers.NotFound, 'x', {}, text('error.noSuchJob')));
    expect(english.reply).toHaveBeenCalledWith(expect.objectContaining({ content: 'There is no such image job.' }));
  });
});

describe('/imagine size autocomplete', () => {
  it('names the presets in the member’s language and sends back the English preset', async () => {
    const respond = vi.fn(async () => undefined);
    const command = imagineCommand({ models: () => [] } as never);
    await command.autocomplete!({ locale: 'zh-CN', options: { getFocused: () => ({ name: 'size', value: '宽' }) }, respond } as never);
    expect(respond).toHaveBeenCalledWith([{ name: '宽屏 wide（16:9）', value: 'wide' }]);
  });
});

describe("a zh-CN job's public message", () => {
  it('queued, running, done and cancelled states are Chinese, with Chinese buttons', () => {
    const queued = renderQueued(zhJob(), { position: 3, etaMs: 45_000 }, [
      text('job.note.ratio', { label: '16:9', width: 680, height: 384, sdxl: false }),
    ]);
    expect(queued.content).toBe(`**一只猫** — <@${OWNER}>\n⏳ 排队中：第 3 位 · 约 45 秒后开始\n-# 16:9 → 680x384`);
    expect((queued.components[0].components[0] as { label: string }).label).toBe('取消');

    const running = renderRunning(zhJob({ state: 'running' }), { step: 5, total: 20, image: 0 }, undefined);
    expect(running.content.split('\n')[1]).toMatch(/^🎨 第 5\/20 步 `[█░]+` 25%$/);

    const done = renderDone(
      zhJob({ state: 'done', seeds: [42], outputs: [{ path: '/x/0.png', seed: 42, width: 512, height: 512, parameters: '' }] }),
      { key: 'k', name: 'a.png', png: new Uint8Array([1]) },
    );
    expect(done.content.split('\n')[1]).toBe('种子 `42` · 512x512 · 20 步 · CFG 7 · euler · fake\\-model');
    const labels = done.components.flatMap((row) => row.components.map((c) => (c as { label?: string }).label)).filter(Boolean);
    expect(labels).toEqual(expect.arrayContaining(['拉远 2x', '轻微变化', '局部变化', 'U1', 'V1']));

    expect(renderCancelled(zhJob({ state: 'cancelled', cancelledBy: OWNER })).content.endsWith('\n✖️ 已取消。')).toBe(true);
    expect(renderCancelled(zhJob({ state: 'cancelled', cancelledBy: '9' })).content.endsWith('\n✖️ 已被 <@9> 取消。')).toBe(true);
  });

  it('failures: a catalogue key is translated, an engine message is framed, an internal error shows only the reference', () => {
    const crashed = toJobFailure(new WorkerCrashedError('boom', 1, null));
    expect(renderFailed(zhJob({ state: 'failed', error: crashed })).content.split('\n')[1]).toMatch(/^❌ 生成这张图时，生成进程每次尝试都崩溃/);
    expect(renderFailed({ ...zhJob({ state: 'failed', error: crashed }), locale: 'en' }).content).toMatch(/❌ The image worker crashed/);

    const engine = toJobFailure(new UserError(Identifiers.PromptTooLong, 'The prompt needs 9 chunks; the most is 8.'));
    expect(renderFailed(zhJob({ state: 'failed', error: engine })).content.split('\n')[1]).toBe(
      '❌ 生成失败：The prompt needs 9 chunks; the most is 8.',
    );

    const internal = toJobFailure(new Error('session.run exploded at /secret/path'));
    const shown = renderFailed(zhJob({ state: 'failed', error: internal })).content;
    expect(shown.split('\n')[1]).toBe(`❌ 出错了（参考编号 \`${internal.ref}\`）。`);
    expect(shown).not.toContain('secret');
  });

  it("says the engine's frequent warnings in Chinese and leaves others as the engine wrote them", () => {
    const done = renderDone(
      zhJob({
        state: 'done',
        seeds: [1],
        outputs: [{ path: '/x/0.png', seed: 1, width: 512, height: 512, parameters: '' }],
        warnings: [translatorMissingWarning('tiny'), 'A rare engine note.'],
      }),
      { key: 'k', name: 'a.png', png: new Uint8Array([1]) },
    );
    const lines = done.content.split('\n');
    expect(lines).toContain(
      '⚠️ 模型“tiny”只懂英文，提示词里的中文几乎不起作用。机器人管理者可以用这条命令安装翻译模型：npm run models:pull \\-\\- opus\\-mt\\-zh\\-en（见 docs/translation.md）。',
    );
    expect(lines).toContain('⚠️ A rare engine note.');
  });

  it('jobs stored before #16 (no locale) stay English', () => {
    const old = fakeJob({ userId: OWNER });
    expect(renderQueued(old, { position: 1, etaMs: null }).content).toContain('⏳ Queued: #1 in line');
  });

  it('no English word is left in a Chinese queued or running message but the prompt, ids and technical names', () => {
    const states = [renderQueued(zhJob(), undefined), renderRunning(zhJob({ state: 'running' }), undefined, undefined)];
    for (const state of states) {
      const status = state.content.split('\n')[1];
      expect(status).toMatch(HAN);
      expect(status.replace(/`[^`]*`/g, '')).not.toMatch(/[A-Za-z]{3,}/);
    }
  });
});

describe('/config language', () => {
  const options = (language: string) =>
    ({
      guildId: 'g',
      guildLocale: 'zh-CN',
      options: { getSubcommand: () => 'language', getString: () => language },
    }) as never;

  it('saves auto, en or zh-CN and says what job messages will use, in the admin’s language', () => {
    const toEnglish = change(options('en'), settings, { models: () => [] }, 'zh-CN');
    expect(toEnglish).toMatchObject({ ok: true, next: { language: 'en' }, summary: '任务消息将使用English。' });
    const auto = change(options('auto'), settings, { models: () => [] }, 'en');
    expect(auto).toMatchObject({ ok: true, next: { language: 'auto' }, summary: 'Job messages will be in 简体中文.' });
    expect(change(options('klingon'), settings, { models: () => [] }, 'en')).toEqual({
      ok: false,
      message: 'Unknown language `klingon`; use auto, en or zh-CN.',
    });
  });

  it("the settings' own checks answer in the admin's language", () => {
    const parsed = GuildSettingsSchema.safeParse({ defaults: { steps: 40 }, limits: { maxSteps: 30 } });
    expect(parsed.success).toBe(false);
    if (parsed.success) return;
    expect(describeSettingsIssues(parsed.error, 'zh-CN')).toBe('默认步数（40）超过了最大步数（30）；请调低其一或调高另一个。');
    expect(describeSettingsIssues(parsed.error)).toBe('The default steps (40) are over max steps (30); lower one or raise the other.');
  });

  it('/config show says the language, auto with what it means now', () => {
    expect(describeSettings(settings, 'zh-CN', 'zh-CN')).toContain('**任务消息语言**：自动（当前为简体中文）');
    expect(describeSettings(GuildSettingsSchema.parse({ language: 'en' }), 'en', 'zh-CN')).toContain('**Job message language**: English');
    expect(describeSettings(settings, 'zh-CN', 'zh-CN')).toMatch(/^\*\*默认值\*\*/);
  });
});
