import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/models.js';
import { capturedCliIo } from './cli-io.js';
import { parseControlNetSpec } from '../../src/hub/pull-controlnet.js';
import { findDepthModel } from '../../src/inference/model/depth.js';
import { inspectModelFolder, listModelDirs, modelSummary } from '../../src/model-folder/model-folder.js';
import { writeTinyModel } from '../fixtures/tiny-models.js';
import { FakeHub } from './fake-hub.js';

const COMMIT = `${'0123456789abcdef'.repeat(2)}01234567`;
let modelsDir: string;
let hub: FakeHub | undefined;
const canny = Buffer.from('pretend canny controlnet onnx bytes');
const scribble = Buffer.from('pretend scribble net');
const depth = Buffer.from('pretend depth anything');

const io = () => capturedCliIo({ MODELS_DIR: modelsDir, HF_ENDPOINT: hub?.url });

beforeEach(async () => {
  modelsDir = await mkdtemp(path.join(tmpdir(), 'imagine-cn-pull-'));
  await writeTinyModel(path.join(modelsDir, 'sd15'));
  hub = await FakeHub.start([
    {
      id: 'axodoxian/controlnet_onnx',
      commit: COMMIT,
      files: [
        { path: 'controlnet/canny.onnx', content: canny, lfs: true },
        { path: 'controlnet/depth.onnx', content: Buffer.from('other'), lfs: true },
        { path: 'annotators/canny.onnx', content: Buffer.from('annotator'), lfs: true },
      ],
    },
    { id: 'someone/nets', commit: COMMIT, files: [{ path: 'scribble/model.onnx', content: scribble, lfs: true }] },
    {
      id: 'onnx-community/depth-anything-v2-small',
      commit: COMMIT,
      files: [
        { path: 'config.json', content: Buffer.from('{}') },
        { path: 'onnx/model.onnx', content: depth, lfs: true },
        { path: 'onnx/model_fp16.onnx', content: Buffer.from('half'), lfs: true },
      ],
    },
  ]);
});

afterEach(async () => {
  await hub?.close();
  hub = undefined;
  await rm(modelsDir, { recursive: true, force: true });
});

describe('models:pull --controlnet', () => {
  it("puts axodox's net in the model's controlnet/<name>/model.onnx, where the bot lists it; a second run finds it installed", async () => {
    const cli = io();
    expect(await main(['pull', '--controlnet', 'canny', '--model', 'sd15'], cli)).toBe(0);
    const target = path.join(modelsDir, 'sd15', 'controlnet', 'canny', 'model.onnx');
    expect(await readFile(target)).toEqual(canny);
    expect(cli.out()).toContain(`Installed ControlNet canny (${canny.length} B) from axodoxian/controlnet_onnx@${COMMIT.slice(0, 12)} in ${target}`);
    expect(cli.out()).toContain('Use it with --control canny (CLI) or control:canny (Discord)');
    // Only the net was fetched (no annotators, no other nets), and no staging folder is left behind.
    expect(await readdir(path.join(modelsDir, 'sd15', 'controlnet'))).toEqual(['canny']);
    expect((await readdir(path.join(modelsDir, '.pull')).catch(() => [])).length).toBe(0);
    expect(modelSummary(await inspectModelFolder(path.join(modelsDir, 'sd15'))).controlNets).toEqual(['canny']);
    const again = io();
    expect(await main(['pull', '--controlnet', 'canny', '--model', 'sd15'], again)).toBe(0);
    expect(again.out()).toContain('Already installed ControlNet canny');
  });

  it('takes OWNER/REPO:FILE.onnx, named by its folder or --name', async () => {
    expect(await main(['pull', '--controlnet', 'someone/nets:scribble/model.onnx', '--model', 'sd15'], io())).toBe(0);
    expect(await readFile(path.join(modelsDir, 'sd15', 'controlnet', 'scribble', 'model.onnx'))).toEqual(scribble);
    expect(await main(['pull', '--controlnet', 'someone/nets:scribble/model.onnx', '--model', 'sd15', '--name', 'sketch'], io())).toBe(0);
    expect(await readdir(path.join(modelsDir, 'sd15', 'controlnet'))).toEqual(['scribble', 'sketch']);
    expect(parseControlNetSpec('a/b:nets/lineart.onnx')).toEqual({ repo: 'a/b', file: 'nets/lineart.onnx', name: 'lineart' });
  });

  it('refuses an unknown net, a model that is not installed, and --controlnet without --model', async () => {
    const unknown = io();
    expect(await main(['pull', '--controlnet', 'pose', '--model', 'sd15'], unknown)).toBe(2);
    expect(unknown.err()).toContain('--controlnet takes one of canny, depth, hed, mlsd, normal, openpose, scribble, seg');
    const noModel = io();
    expect(await main(['pull', '--controlnet', 'canny', '--model', 'sd99'], noModel)).toBe(1);
    expect(noModel.err()).toContain('No model "sd99" in');
    const alone = io();
    expect(await main(['pull', '--controlnet', 'canny'], alone)).toBe(2);
    expect(alone.err()).toContain('--controlnet NET and --model MODEL go together');
    const missing = io();
    expect(await main(['pull', '--controlnet', 'someone/nets:lineart.onnx', '--model', 'sd15'], missing)).toBe(1);
    expect(missing.err()).toContain('someone/nets has no file lineart.onnx; its .onnx files: scribble/model.onnx.');
  });

  it('refuses to overwrite a different file already in place', async () => {
    const target = path.join(modelsDir, 'sd15', 'controlnet', 'canny', 'model.onnx');
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, 'mine');
    const cli = io();
    expect(await main(['pull', '--controlnet', 'canny', '--model', 'sd15'], cli)).toBe(1);
    expect(cli.err()).toContain('exists and differs from axodoxian/controlnet_onnx:controlnet/canny.onnx; move it away first.');
    expect(await readFile(target, 'utf8')).toBe('mine');
  });
});

describe('models:pull depth-anything-v2-small', () => {
  it('installs only onnx/model.onnx under MODELS_DIR/depth-anything-v2-small, not listed as an image model', async () => {
    const cli = io();
    expect(await main(['pull', 'depth-anything-v2-small'], cli)).toBe(0);
    expect(await readFile(path.join(modelsDir, 'depth-anything-v2-small', 'onnx', 'model.onnx'))).toEqual(depth);
    expect(await readdir(path.join(modelsDir, 'depth-anything-v2-small', 'onnx'))).toEqual(['model.onnx']);
    expect(cli.out()).toContain('Installed the depth model');
    // The bot's model list skips it (no model_index.json), and the engine finds it where it looks.
    expect((await listModelDirs(modelsDir)).map((dir) => path.basename(dir))).toEqual(['sd15']);
    expect(await findDepthModel(modelsDir)).toBe(path.join(modelsDir, 'depth-anything-v2-small', 'onnx', 'model.onnx'));
  });
});
