import { statSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readPngText } from '../../src/protocol/png-text.js';
import { pngHeaderOnly } from '../fixtures/png-header.js';
import { customIds, ephemeralOf, finalMessageOf, startHarness, type Harness } from './bot-harness.js';
import type { FakeMessage, FakeUser } from './fake-discord/fake-discord.js';

const alice: FakeUser = { id: '200000000000000011', username: 'alice' };
const bob: FakeUser = { id: '200000000000000012', username: 'bob' };

const opt = (
  name: string,
  value: string | number | boolean,
  type = typeof value === 'number' ? (Number.isInteger(value) ? 4 : 10) : typeof value === 'boolean' ? 5 : 3,
) => ({ name, type, value });
const file = (name: string, attachment: { id: string }) => ({ name, type: 11, value: attachment.id });

const picture = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: { r: 30, g: 120, b: 200 } } })
    .png()
    .toBuffer();

/** Black, with the left half white (repaint). */
async function leftHalfMask(width: number, height: number): Promise<Buffer> {
  const data = Buffer.alloc(width * height);
  for (let y = 0; y < height; y++) data.fill(255, y * width, y * width + width / 2);
  return sharp(data, { raw: { width, height, channels: 1 } })
    .png()
    .toBuffer();
}

/** What the deferred reply became when the job was refused after the acknowledgement. */
const refusedAfterAck = (h: Harness, interactionId: string, pattern: RegExp) =>
  h.fake.waitFor(
    () => (pattern.test(h.fake.replyOf(interactionId)?.content ?? '') ? h.fake.replyOf(interactionId)!.content : undefined),
    30_000,
    () =>
      `refusal ${pattern} of ${interactionId}, got ${JSON.stringify(h.fake.replyOf(interactionId)?.content)} ${h.logs.filter((l) => l.includes(interactionId)).join('')}`,
  );

const jobOf = (h: Harness, interactionId: string) =>
  h.app.store.jobs.listByGuild(h.fake.guilds[0].id, 500).find((job) => job.interactionId === interactionId);

const button = (message: FakeMessage, prefix: string) => customIds(message).find((id) => id.startsWith(prefix))!;

describe('editing pictures in Discord, with the real worker and tiny models', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('/imagine image: downloads the upload after the ack, stores it under inputs/ and runs img2img at its aspect', async () => {
    const upload = h.fake.upload(await picture(96, 64), 'photo.png', { width: 96, height: 64 });
    const interaction = h.fake.sendCommand({
      name: 'imagine',
      user: alice,
      options: [opt('prompt', 'a blue lake --seed 3'), file('image', upload), opt('strength', 0.6)],
    });
    const final = await finalMessageOf(h.fake, interaction.id);
    expect(h.fake.callbackOf(interaction.id)?.type).toBe(5);
    // The download came after the acknowledgement (the 3-second rule).
    const ackAt = h.fake.interactions.get(interaction.id)!.ackAt!;
    const download = h.fake.requests.find((r) => r.path === new URL(upload.url).pathname)!;
    expect(download.at).toBeGreaterThanOrEqual(ackAt);
    expect(final.content).toContain('from a picture (strength 0.6)');
    const job = jobOf(h, interaction.id)!;
    // 96:64 at about the tiny model's 64x64 area, to the grid of 8 (80x56), the height raised to the 64 minimum.
    expect([job.request.width, job.request.height]).toEqual([80, 64]);
    expect(job.request.mode).toEqual({ kind: 'img2img', image: { ref: expect.stringMatching(/^inputs\/[\w-]+\/image\.png$/) }, strength: 0.6 });
    const stored = path.join(h.dataDir, (job.request.mode as { image: { ref: string } }).image.ref);
    expect(statSync(stored).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(stored)).mode & 0o777).toBe(0o700);
    expect(JSON.stringify(job.request)).not.toContain('http');
    expect(readPngText(final.attachments[0].data).get('parameters')).toMatch(/Denoising strength: 0.6/);
  });

  it('refuses bad uploads: ephemerally when Discord already tells, by editing the reply after the download otherwise', async () => {
    const text = h.fake.upload(Buffer.from('hello'), 'notes.txt', { contentType: 'text/plain' });
    const textReply = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'x'), file('image', text)] });
    expect(await ephemeralOf(h.fake, textReply.id)).toMatch(/must be a PNG, JPEG or WebP picture; `notes.txt` is text\/plain/);

    const big = h.fake.upload(await picture(8, 8), 'big.png', { size: 30 * 1024 * 1024 });
    const bigReply = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'x'), file('image', big)] });
    expect(await ephemeralOf(h.fake, bigReply.id)).toMatch(/is 30 MiB; this server takes pictures up to 8 MiB/);

    // Discord said PNG; the bytes say otherwise.
    const fake = h.fake.upload(Buffer.from('%PDF-1.4 definitely not a picture'), 'sneaky.png');
    const fakeReply = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'x'), file('image', fake)] });
    expect(await refusedAfterAck(h, fakeReply.id, /not a PNG, JPEG or WebP picture/)).toBeTruthy();

    const bomb = h.fake.upload(pngHeaderOnly(20000, 20000), 'bomb.png');
    const bombReply = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'x'), file('image', bomb)] });
    expect(await refusedAfterAck(h, bombReply.id, /20000x20000; the bot takes pictures up to/)).toBeTruthy();

    const gone = h.fake.upload(await picture(8, 8), 'gone.png');
    gone.url = 'http://127.0.0.1:1/attachments/gone.png';
    const goneReply = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'x'), file('image', gone)] });
    expect(await refusedAfterAck(h, goneReply.id, /could not download the image from Discord/)).toBeTruthy();

    const lonely = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'x'), opt('strength', 0.5)] });
    expect(await ephemeralOf(h.fake, lonely.id)).toMatch(/add one with the `image` option/);
    // Nothing was queued for any of them, and the caps are free again.
    for (const i of [textReply, bigReply, fakeReply, bombReply, goneReply, lonely]) expect(jobOf(h, i.id)).toBeUndefined();
    expect(h.app.jobs.list(h.fake.guilds[0].id)).toEqual([]);
  });

  it('/edit inpaints through the mask (resized to the picture), and refuses an empty mask before queueing', async () => {
    const image = h.fake.upload(await picture(64, 64), 'image.png');
    const mask = h.fake.upload(await leftHalfMask(32, 32), 'mask.png');
    const interaction = h.fake.sendCommand({
      name: 'edit',
      user: alice,
      options: [
        file('image', image),
        file('mask', mask),
        opt('prompt', 'a red boat --seed 9'),
        opt('strength', 0.9),
        opt('mask_blur', 2),
        opt('only_masked', true),
      ],
    });
    const final = await finalMessageOf(h.fake, interaction.id);
    expect(final.content).toContain('🖌️ inpaint (strength 0.9)');
    const job = jobOf(h, interaction.id)!;
    expect(job.kind).toBe('edit');
    expect(job.request.mode).toMatchObject({ kind: 'inpaint', strength: 0.9, maskBlur: 2, area: 'only-masked', fill: 'original', padding: 32 });
    const maskRef = (job.request.mode as { mask: { ref: string } }).mask.ref;
    expect(await sharp(path.join(h.dataDir, maskRef)).metadata()).toMatchObject({ width: 64, height: 64 });
    // Outside the mask (and its blur) the source's pixels are kept.
    const { data } = await sharp(final.attachments[0].data).raw().toBuffer({ resolveWithObject: true });
    expect([data[(10 * 64 + 60) * 3], data[(10 * 64 + 60) * 3 + 1], data[(10 * 64 + 60) * 3 + 2]]).toEqual([30, 120, 200]);
    expect(readPngText(final.attachments[0].data).get('parameters')).toMatch(/Mask blur: 2/);

    const black = h.fake.upload(
      await sharp({ create: { width: 16, height: 16, channels: 3, background: '#000' } })
        .png()
        .toBuffer(),
      'black.png',
    );
    const empty = h.fake.sendCommand({ name: 'edit', user: alice, options: [file('image', image), file('mask', black), opt('prompt', 'anything')] });
    expect(await refusedAfterAck(h, empty.id, /The mask is empty \(all black\)/)).toBeTruthy();
    expect(jobOf(h, empty.id)).toBeUndefined();

    const white = h.fake.upload(
      await sharp({ create: { width: 16, height: 16, channels: 3, background: '#fff' } })
        .png()
        .toBuffer(),
      'white.png',
    );
    const whole = h.fake.sendCommand({ name: 'edit', user: alice, options: [file('image', image), file('mask', white), opt('prompt', 'all new')] });
    const wholeFinal = await finalMessageOf(h.fake, whole.id);
    expect(wholeFinal.content).toContain('edit, whole picture');
    expect(jobOf(h, whole.id)!.request.mode).toMatchObject({ kind: 'img2img', strength: 0.75 });
  });

  it('Zoom Out, pan, Vary (Subtle / Strong / Region) make new jobs from the stored image', async () => {
    const first = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'a small house --seed 11')] });
    const original = await finalMessageOf(h.fake, first.id);
    const parent = jobOf(h, first.id)!;
    const ref = { ref: `outputs/${parent.id}/0.png` };

    const zoom = h.fake.clickButton({ messageId: original.id, customId: button(original, 'edit:zoom2:'), user: bob });
    const zoomed = await finalMessageOf(h.fake, zoom.id);
    expect(zoomed.content).toContain('🔍 zoom out 2x');
    expect(jobOf(h, zoom.id)).toMatchObject({
      kind: 'zoom',
      parentJobId: parent.id,
      userId: bob.id,
      request: { width: 64, height: 64, count: 1, mode: { kind: 'outpaint', image: ref, strength: 1, zoom: 2 } },
    });
    expect(readPngText(zoomed.attachments[0].data).get('parameters')).toMatch(/Zoom out 2/);

    const pan = h.fake.clickButton({ messageId: original.id, customId: button(original, 'edit:panleft:'), user: bob });
    const panned = await finalMessageOf(h.fake, pan.id);
    expect(panned.content).toContain('⬅️ pan left');
    expect((await sharp(panned.attachments[0].data).metadata()).width).toBe(96);
    // The grown picture has the editing buttons too: a pan of a pan.
    expect(customIds(panned).some((id) => id.startsWith('edit:panup:'))).toBe(true);

    for (const [action, kind, strength] of [
      ['subtle', 'vary-subtle', 0.35],
      ['strong', 'vary-strong', 0.75],
    ] as const) {
      const click = h.fake.clickButton({ messageId: original.id, customId: button(original, `edit:${action}:`), user: bob });
      const varied = await finalMessageOf(h.fake, click.id);
      expect(varied.content).toContain(`vary (${action})`);
      expect(jobOf(h, click.id)).toMatchObject({ kind, request: { mode: { kind: 'img2img', image: ref, strength } } });
    }

    const region = h.fake.clickButton({ messageId: original.id, customId: button(original, 'edit:region:'), user: bob });
    const modal = await h.fake.waitFor(() => (h.fake.callbackOf(region.id)?.type === 9 ? h.fake.callbackOf(region.id)!.data : undefined));
    expect(modal.custom_id).toBe(`region:submit:${parent.id}`);
    const bad = h.fake.submitModal({ messageId: original.id, customId: modal.custom_id, fields: { region: 'somewhere' }, user: bob });
    expect(await ephemeralOf(h.fake, bad.id)).toMatch(/Name a region/);
    const submit = h.fake.submitModal({ messageId: original.id, customId: modal.custom_id, fields: { region: 'right' }, user: bob });
    const regioned = await finalMessageOf(h.fake, submit.id);
    expect(regioned.content).toContain('vary (region)');
    const regionJob = jobOf(h, submit.id)!;
    expect(regionJob).toMatchObject({
      kind: 'vary-region',
      request: { mode: { kind: 'inpaint', image: ref, mask: { ref: expect.stringMatching(/^inputs\//) } } },
    });
    const maskPath = path.join(h.dataDir, (regionJob.request.mode as { mask: { ref: string } }).mask.ref);
    const { data } = await sharp(maskPath).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    expect([data[0], data[63]]).toEqual([0, 255]);
  });

  it('refuses a pan over max pixels at the click, and a button whose image files were removed', async () => {
    const first = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'a tree')] });
    const original = await finalMessageOf(h.fake, first.id);
    const admin = h.fake.sendCommand({
      name: 'config',
      user: alice,
      admin: true,
      options: [{ name: 'limits', type: 1, options: [opt('max_pixels', 64 * 64)] }],
    });
    await ephemeralOf(h.fake, admin.id);
    const pan = h.fake.clickButton({ messageId: original.id, customId: button(original, 'edit:panright:'), user: bob });
    expect(await ephemeralOf(h.fake, pan.id)).toMatch(/Panning right makes the picture 96x64 \(6144 pixels\); this server allows 4096/);
    h.app.store.images.remove(jobOf(h, first.id)!.id);
    const zoom = h.fake.clickButton({ messageId: original.id, customId: button(original, 'edit:zoom15:'), user: bob });
    expect(await ephemeralOf(h.fake, zoom.id)).toMatch(/no longer stored on the bot/);
    const reset = h.fake.sendCommand({
      name: 'config',
      user: alice,
      admin: true,
      options: [{ name: 'limits', type: 1, options: [opt('max_pixels', 1024 * 1024)] }],
    });
    await ephemeralOf(h.fake, reset.id);
  });

  it('a Zoom Out clicked before a restart is delivered after it', async () => {
    const first = h.fake.sendCommand({
      name: 'imagine',
      user: alice,
      options: [opt('prompt', 'a slow castle --seed 4'), opt('model', 'slow'), opt('steps', 4)],
    });
    const original = await finalMessageOf(h.fake, first.id);
    const zoom = h.fake.clickButton({ messageId: original.id, customId: button(original, 'edit:zoom15:'), user: bob });
    await h.fake.waitFor(() => jobOf(h, zoom.id));
    const jobId = jobOf(h, zoom.id)!.id;
    await h.restart();
    const final = await finalMessageOf(h.fake, zoom.id);
    expect(final.content).toContain('zoom out 1.5x');
    await vi.waitFor(() => expect(h.app.store.jobs.get(jobId)).toMatchObject({ state: 'done', request: { mode: { kind: 'outpaint', zoom: 1.5 } } }), {
      timeout: 10_000,
    });
  });
});
