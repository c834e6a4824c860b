/**
 * ControlNet through the bot (issue #15), with the real worker and a tiny ControlNet-ready model: a control image
 * upload with a preprocessor, the map the net saw shown with the result, "🎛 Use as control" on a result, and the
 * refusals (unknown net, a model without nets, settings without a control image) before anything is queued.
 */
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canny } from '../../src/inference/image/canny.js';
import { readPngText } from '../../src/protocol/png-text.js';
import { addControlNets } from '../fixtures/tiny-controlnet.js';
import { makeTempDir, writeTinyModel } from '../fixtures/tiny-models.js';
import { customIds, ephemeralOf, finalMessageOf, startHarness, type Harness } from './bot-harness.js';
import type { FakeMessage, FakeUser } from './fake-discord/fake-discord.js';

const alice: FakeUser = { id: '200000000000000011', username: 'alice' };
const bob: FakeUser = { id: '200000000000000012', username: 'bob' };
const opt = (name: string, value: string | number, type = typeof value === 'number' ? 10 : 3) => ({ name, type, value });
const file = (name: string, attachment: { id: string }) => ({ name, type: 11, value: attachment.id });

/** A bright disc on a dark background, `width`×`height`: its Canny edges are a ring. */
function disc(width: number, height: number): Promise<Buffer> {
  const rgb = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      rgb.fill((x - width / 2) ** 2 + (y - height / 2) ** 2 < (height / 3) ** 2 ? 230 : 20, (y * width + x) * 3, (y * width + x) * 3 + 3);
  return sharp(rgb, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

/** The Canny map the engine should draw from a picture: resized to the job's size as the engine does, thresholds 100/200 unless given. */
async function expectedCanny(png: Buffer | string, width: number, height: number, low = 100, high = 200): Promise<number[]> {
  const rgb = await sharp(png).removeAlpha().toColourspace('srgb').resize(width, height, { fit: 'cover', kernel: 'lanczos3' }).raw().toBuffer();
  return [...canny(rgb, width, height, 3, low, high)];
}

async function firstChannel(png: Buffer): Promise<{ values: number[]; width: number; height: number }> {
  const { data, info } = await sharp(png).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  return { values: [...data], width: info.width, height: info.height };
}

const attachment = (message: FakeMessage, name: string) => message.attachments.find((a) => a.filename === name);

describe('ControlNet in Discord, with the real worker and a tiny ControlNet-ready model', () => {
  let h: Harness;
  const jobOf = (interactionId: string) => h.app.store.jobs.listByGuild(h.fake.guilds[0].id, 500).find((job) => job.interactionId === interactionId);

  beforeAll(async () => {
    const root = await makeTempDir('imagine-controlnet-e2e-');
    const modelsDir = path.join(root, 'models');
    const defaults = { width: 64, height: 64, steps: 2, sampler: 'euler' as const };
    await addControlNets(await writeTinyModel(path.join(modelsDir, 'cn'), { manifest: { defaults } }), { edges: {} });
    await writeTinyModel(path.join(modelsDir, 'plain'), { manifest: { defaults } });
    h = await startHarness({}, { modelsDir, defaultModel: 'cn' });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('control_image with preprocess canny: the worker gets the unit, the result shows the edges it saw and records them in the PNG', async () => {
    const picture = await disc(128, 64);
    const upload = h.fake.upload(picture, 'layout.png', { width: 128, height: 64 });
    const interaction = h.fake.sendCommand({
      name: 'imagine',
      user: alice,
      options: [opt('prompt', 'a planet --seed 5'), file('control_image', upload), opt('preprocess', 'canny'), opt('control_strength', 0.8)],
    });
    const final = await finalMessageOf(h.fake, interaction.id);
    // Acknowledged first, downloaded after.
    expect(h.fake.callbackOf(interaction.id)?.type).toBe(5);
    const download = h.fake.requests.find((r) => r.path === new URL(upload.url).pathname)!;
    expect(download.at).toBeGreaterThanOrEqual(h.fake.interactions.get(interaction.id)!.ackAt!);

    // The size follows the control image's 2:1 aspect at the model's 64x64 area (88x48, the height raised to the 64 minimum).
    const job = jobOf(interaction.id)!;
    expect(job.request).toMatchObject({ width: 88, height: 64, mode: { kind: 'txt2img' } });
    expect(job.request.controls).toEqual([
      { net: 'edges', image: { ref: expect.stringMatching(/^inputs\/[\w-]+\/image\.png$/) }, strength: 0.8, preprocess: 'canny' },
    ]);
    expect(JSON.stringify(job.request)).not.toContain('http');

    const parameters = readPngText(final.attachments[0].data).get('parameters')!;
    expect(parameters).toContain(
      'ControlNet 0: "Module: canny, Model: edges, Weight: 0.8, Resize Mode: Crop and Resize, Processor Res: 64, Threshold A: 100, Threshold B: 200,',
    );
    expect(final.content).toContain('-# 🎛 ControlNet `edges` · canny · strength 0.8');
    // The map: a second attachment of the picture's size, the Canny edges of the stored control image.
    expect(final.attachments.map((a) => a.filename)).toEqual([expect.stringMatching(/^imagine-5\.png$/), 'control-0.png']);
    const map = await firstChannel(attachment(final, 'control-0.png')!.data);
    expect([map.width, map.height]).toEqual([88, 64]);
    const stored = path.join(h.dataDir, job.request.controls![0].image.ref);
    const edges = await expectedCanny(stored, 88, 64);
    expect(edges.filter((v) => v === 255).length).toBeGreaterThan(40);
    expect(map.values).toEqual(edges);
    expect(await sharp(path.join(h.dataDir, 'outputs', job.id, 'control-0.png')).metadata()).toMatchObject({ width: 88, height: 64 });

    // The net steered the picture: the same job without the control image draws other pixels.
    const plain = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'a planet --seed 5 --size 88x64')] });
    const plainFinal = await finalMessageOf(h.fake, plain.id);
    expect(plainFinal.attachments.map((a) => a.filename)).toEqual(['imagine-5.png']);
    const [a, b] = await Promise.all([firstChannel(final.attachments[0].data), firstChannel(plainFinal.attachments[0].data)]);
    expect(a.values).not.toEqual(b.values);
  });

  it('a size the user chose wins over the control image aspect; with `image` too it is img2img guided by the control', async () => {
    const control = h.fake.upload(await disc(128, 64), 'wide.png');
    const sized = h.fake.sendCommand({
      name: 'imagine',
      user: alice,
      options: [opt('prompt', 'a moon --seed 2'), opt('size', '64x64'), file('control_image', control), opt('preprocess', 'none')],
    });
    const sizedFinal = await finalMessageOf(h.fake, sized.id);
    expect(jobOf(sized.id)!.request).toMatchObject({ width: 64, height: 64, controls: [{ net: 'edges', strength: 1, preprocess: 'none' }] });
    // preprocess none: the map is the control image itself, cropped to cover 64x64 from the centre.
    const map = await firstChannel(attachment(sizedFinal, 'control-0.png')!.data);
    expect([map.width, map.height]).toEqual([64, 64]);
    expect([map.values[32 * 64 + 32], map.values[0]]).toEqual([230, 20]);
    expect(readPngText(sizedFinal.attachments[0].data).get('parameters')).toContain('ControlNet 0: "Module: none, Model: edges, Weight: 1,');

    const start = h.fake.upload(
      await sharp({ create: { width: 96, height: 64, channels: 3, background: '#3080c0' } })
        .png()
        .toBuffer(),
      'photo.png',
    );
    const both = h.fake.sendCommand({
      name: 'imagine',
      user: alice,
      options: [
        opt('prompt', 'a moon --seed 2 --canny-low 40 --canny-high 90'),
        file('image', start),
        opt('strength', 0.6),
        file('control_image', control),
        opt('preprocess', 'canny'),
      ],
    });
    const bothFinal = await finalMessageOf(h.fake, both.id);
    const job = jobOf(both.id)!;
    // The picture sets the size (96:64 → 80x64), the control image is stored apart and covered to it.
    expect(job.request).toMatchObject({ width: 80, height: 64, mode: { kind: 'img2img', strength: 0.6 } });
    expect(job.request.controls![0]).toMatchObject({ preprocess: 'canny', cannyLow: 40, cannyHigh: 90 });
    const refs = [(job.request.mode as { image: { ref: string } }).image.ref, job.request.controls![0].image.ref];
    expect(new Set(refs).size).toBe(2);
    const bothMap = await firstChannel(attachment(bothFinal, 'control-0.png')!.data);
    expect([bothMap.width, bothMap.height]).toEqual([80, 64]);
    expect(bothMap.values).toEqual(await expectedCanny(path.join(h.dataDir, refs[1]), 80, 64, 40, 90));
    expect(readPngText(bothFinal.attachments[0].data).get('parameters')).toMatch(
      /Denoising strength: 0.6.*ControlNet 0: "Module: canny, .*Threshold A: 40, Threshold B: 90/s,
    );
  });

  it('"🎛 Use as control" turns image 1 of a result into the canny control of a new job of the presser', async () => {
    const first = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'a lighthouse --seed 8 --steps 3')] });
    const original = await finalMessageOf(h.fake, first.id);
    const parent = jobOf(first.id)!;
    const controlId = customIds(original).find((id) => id.startsWith('ctrl:'))!;
    expect(controlId).toBe(`ctrl:c1:${parent.id}`);
    const click = h.fake.clickButton({ messageId: original.id, customId: controlId, user: bob });
    const final = await finalMessageOf(h.fake, click.id);
    const job = jobOf(click.id)!;
    expect(job).toMatchObject({
      kind: 'control',
      parentJobId: parent.id,
      userId: bob.id,
      request: {
        prompt: 'a lighthouse',
        steps: 3,
        width: 64,
        height: 64,
        mode: { kind: 'txt2img' },
        controls: [{ net: 'edges', image: { ref: `outputs/${parent.id}/0.png` }, strength: 1, preprocess: 'canny' }],
      },
    });
    expect(job.request.seed).not.toBe(8);
    expect(final.content).toContain('🎛 from a control image');
    expect(readPngText(final.attachments[0].data).get('parameters')).toContain('ControlNet 0: "Module: canny, Model: edges, Weight: 1,');
    const map = await firstChannel(attachment(final, 'control-0.png')!.data);
    expect(map.values).toEqual(await expectedCanny(original.attachments[0].data, 64, 64));
  });

  it('refuses an unknown net, a model without nets and ControlNet settings without a control image, before queueing', async () => {
    const upload = h.fake.upload(await disc(64, 64), 'map.png');
    const unknown = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'x --control pose'), file('control_image', upload)] });
    expect(await ephemeralOf(h.fake, unknown.id)).toBe('Unknown ControlNet `pose` for the model `cn`; available: `edges`.');
    const plainModel = h.fake.sendCommand({
      name: 'imagine',
      user: alice,
      options: [opt('prompt', 'x'), opt('model', 'plain'), file('control_image', upload)],
    });
    expect(await ephemeralOf(h.fake, plainModel.id)).toBe(
      "The model `plain` has no ControlNets, so it can't use a control image. Choose one that has: `cn` (edges).",
    );
    const depth = h.fake.sendCommand({
      name: 'imagine',
      user: alice,
      options: [opt('prompt', 'x'), file('control_image', upload), opt('preprocess', 'depth')],
    });
    expect(await ephemeralOf(h.fake, depth.id)).toMatch(/^The "depth" preprocessor is not installed on this bot/);
    const noImage = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'x --preprocess canny')] });
    expect(await ephemeralOf(h.fake, noImage.id)).toMatch(/^A ControlNet needs a control image/);
    const text = h.fake.upload(Buffer.from('hello'), 'notes.txt', { contentType: 'text/plain' });
    const notPicture = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'x'), file('control_image', text)] });
    expect(await ephemeralOf(h.fake, notPicture.id)).toMatch(/The control image must be a PNG, JPEG or WebP picture; `notes.txt` is text\/plain/);
    for (const i of [unknown, plainModel, depth, noImage, notPicture]) {
      expect(h.fake.callbackOf(i.id)?.type).toBe(4);
      expect(jobOf(i.id)).toBeUndefined();
    }
    // Nothing was downloaded for them either.
    expect(h.fake.requests.some((r) => r.path === new URL(upload.url).pathname)).toBe(false);

    // A model without nets shows no 🎛; a crafted one is refused at the click.
    const plainJob = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'a tree'), opt('model', 'plain')] });
    const plainFinal = await finalMessageOf(h.fake, plainJob.id);
    expect(customIds(plainFinal).some((id) => id.startsWith('ctrl:'))).toBe(false);
    const crafted = h.fake.clickButton({ messageId: plainFinal.id, customId: `ctrl:c1:${jobOf(plainJob.id)!.id}`, user: bob });
    expect(await ephemeralOf(h.fake, crafted.id)).toBe(
      "The model `plain` has no ControlNets, so its images can't guide a new one. Use a model that has some.",
    );
    expect(jobOf(crafted.id)).toBeUndefined();
  });
});
