import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPngText } from '../../src/inference/png-text.js';
import { BOT_TOKEN, customIds, ephemeralOf, finalMessageOf, startHarness, type Harness } from './bot-harness.js';
import type { FakeUser } from './fake-discord/fake-discord.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const alice: FakeUser = { id: '200000000000000001', username: 'alice' };
const bob: FakeUser = { id: '200000000000000002', username: 'bob' };
const admin: FakeUser = { id: '200000000000000003', username: 'admin' };

const opt = (name: string, value: string | number | boolean, type = typeof value === 'number' ? (Number.isInteger(value) ? 4 : 10) : typeof value === 'boolean' ? 5 : 3) => ({ name, type, value });

describe('the bot against a fake Discord, with the real worker and tiny models', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('registers its four slash commands, /config behind Manage Server', () => {
    const commands = h.fake.commands.get('global') ?? [];
    expect(commands.map((c) => c.name).sort()).toEqual(['config', 'help', 'imagine', 'queue']);
    expect(commands.find((c) => c.name === 'config').default_member_permissions).toBe('32');
  });

  it('runs /imagine: deferred ack, preview edits with an image, final PNG with parameters, seed and buttons', async () => {
    const interaction = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'a red fox --seed 42'), opt('model', 'slow')] });
    const final = await finalMessageOf(h.fake, interaction.id);
    expect(h.fake.callbackOf(interaction.id)?.type).toBe(5);
    const edits = h.fake.requests.filter((r) => r.route.startsWith('PATCH /webhooks/:app/:token/messages') && r.path.includes(interaction.token));
    expect(edits.some((r) => r.files.some((f) => f.name === 'preview.png' && f.data.subarray(0, 8).equals(PNG_SIGNATURE)))).toBe(true);
    expect(edits.some((r) => /step \d+\/8/.test(r.json?.content ?? ''))).toBe(true);
    expect(final.content).toContain('Seed `42`');
    expect(final.content).toContain('a red fox');
    const png = final.attachments[0].data;
    expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    expect(readPngText(png).get('parameters')).toMatch(/^a red fox\n[\s\S]*Seed: 42/);
    expect(customIds(final).map((id) => id.split(':').slice(0, 2).join(':'))).toEqual(['img:reroll', 'img:u1', 'img:v1']);
  });

  it('makes a 2x2 grid for count 4 with four V and four U buttons', async () => {
    const interaction = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'four cats --count 4 --seed 7')] });
    const final = await finalMessageOf(h.fake, interaction.id);
    const meta = await sharp(final.attachments[0].data).metadata();
    expect([meta.width, meta.height]).toEqual([128, 128]);
    expect(final.content).toContain('Seeds `7, 8, 9, 10`');
    expect(customIds(final).filter((id) => /^img:[uv]\d:/.test(id))).toHaveLength(8);
  });
});
