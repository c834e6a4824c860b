import { appendFile, mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Identifiers, UserError } from '../../src/errors.js';
import { ChecksumError, downloadFile } from '../../src/hub/download-file.js';
import { HubClient } from '../../src/hub/hub-client.js';
import { FakeHub, sha256, tinyRepoFiles } from './fake-hub.js';

const COMMIT = 'e'.repeat(40);
let hub: FakeHub;
let root: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'imagine-download-'));
});

afterEach(async () => {
  await hub?.close();
  await rm(root, { recursive: true, force: true });
});

describe('downloadFile', () => {
  it('refuses a path that resolves outside destDir, before any request', async () => {
    hub = await FakeHub.start([{ id: 'o/r', commit: COMMIT, files: tinyRepoFiles() }]);
    const destDir = path.join(root, 'model');
    const error = await downloadFile({
      client: new HubClient({ endpoint: hub.url }),
      repo: 'o/r',
      commit: COMMIT,
      file: { path: '../escape/model.onnx', size: 10 },
      destDir,
      retryDelayMs: 0,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).identifier).toBe(Identifiers.InvalidModel);
    expect((error as Error).message).toBe(`Refusing to download "../escape/model.onnx": it would be written outside ${path.resolve(destDir)}.`);
    expect(hub.requests).toEqual([]);
    expect(await readdir(root)).toEqual([]);
  });

  it('verifies the bytes on disk: a file changed after download but before the rename is rejected', async () => {
    const files = tinyRepoFiles();
    hub = await FakeHub.start([{ id: 'o/r', commit: COMMIT, files }]);
    const weights = files.find((f) => f.path === 'unet/weights.pb')!.content;
    const client = new HubClient({ endpoint: hub.url });
    const file = { path: 'unet/weights.pb', size: weights.length, sha256: sha256(weights) };
    const flipByte = async (part: string) => {
      const handle = await open(part, 'r+');
      await handle.write(Buffer.from([weights[7] ^ 0xff]), 0, 1, 7);
      await handle.close();
    };
    const flipped = await downloadFile({ client, repo: 'o/r', commit: COMMIT, file, destDir: root, beforeVerify: flipByte }).catch((e: unknown) => e);
    expect(flipped).toBeInstanceOf(ChecksumError);
    expect((flipped as ChecksumError).expected).toBe(sha256(weights));
    const corrupted = Buffer.from(weights);
    corrupted[7] ^= 0xff;
    expect((flipped as ChecksumError).actual).toBe(sha256(corrupted));
    expect(await readdir(path.join(root, 'unet'))).toEqual([]);

    const grown = await downloadFile({
      client,
      repo: 'o/r',
      commit: COMMIT,
      file: { path: 'model_index.json' },
      destDir: root,
      beforeVerify: (part) => appendFile(part, 'x'),
    }).catch((e: unknown) => e);
    expect(grown).toBeInstanceOf(ChecksumError);
    const indexSize = files.find((f) => f.path === 'model_index.json')!.content.length;
    expect([(grown as ChecksumError).expected, (grown as ChecksumError).actual]).toEqual([`${indexSize} bytes`, `${indexSize + 1} bytes`]);
    expect(await readdir(root)).toEqual(['unet']);
  });
});
