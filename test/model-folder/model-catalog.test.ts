import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ModelCatalog } from '../../src/model-folder/model-catalog.js';
import { toJobFailure } from '../../src/queue/job-failure.js';
import { RemoteError } from '../../src/worker/worker-errors.js';
import { makeTempDir, writeTinyModel } from '../fixtures/tiny-models.js';

let root: string;
beforeEach(async () => {
  root = await makeTempDir('imagine-catalog-');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('ModelCatalog', () => {
  it('lists the usable model folders with their defaults and fixed size, and skips broken folders', async () => {
    await writeTinyModel(path.join(root, 'tiny'), {
      manifest: { fixedSize: [64, 64], defaults: { steps: 4 }, variation: { subtle: 0.3, strong: 0.7 } },
    });
    await mkdir(path.join(root, 'half'), { recursive: true });
    await writeFile(path.join(root, 'half', 'model_index.json'), '{"_class_name": "OnnxStableDiffusionPipeline"}');
    const catalog = new ModelCatalog(root);
    await catalog.refresh();
    expect(catalog.list()).toEqual([
      {
        name: 'tiny',
        family: 'sd1',
        hasVaeEncoder: true,
        hasPreviewDecoder: false,
        controlNets: [],
        defaults: { steps: 4 },
        fixedSize: [64, 64],
        variation: { subtle: 0.3, strong: 0.7 },
      },
    ]);
  });

  it('sets a model that failed to load aside until one of its files changes', async () => {
    const dir = path.join(root, 'tiny');
    await writeTinyModel(dir);
    const catalog = new ModelCatalog(root);
    await catalog.refresh();
    await catalog.markBroken('tiny', 'Cannot load unet');
    expect(catalog.list()).toEqual([]);
    expect(catalog.brokenReason('tiny')).toBe('Cannot load unet');
    await catalog.refresh();
    expect(catalog.list()).toEqual([]);
    // The owner replaces the broken file.
    await writeFile(path.join(dir, 'unet', 'replaced.txt'), 'new');
    await catalog.refresh();
    expect(catalog.list().map((m) => m.name)).toEqual(['tiny']);
    expect(catalog.brokenReason('tiny')).toBeUndefined();
  });
});

describe('a model that fails to load, as users see it', () => {
  it('names the model and a reference, never the server path of the file', () => {
    const error = new RemoteError({ name: 'ModelLoadError', message: 'Cannot load /srv/models/sd15/unet/model.onnx: protobuf parsing failed' });
    const failure = toJobFailure(error, 'sd15');
    expect(failure.userFacing).toBe(true);
    expect(failure.message).toBe(
      `The model \`sd15\` could not be loaded (a file of it is missing or broken), so it is set aside until the bot owner fixes it (ref \`${failure.ref}\`). Pick another model.`,
    );
    expect(failure.message).not.toContain('/srv');
  });
});
