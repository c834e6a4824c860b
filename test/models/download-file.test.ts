import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Identifiers, UserError } from '../../src/errors.js';
import { downloadFile } from '../../src/models/download-file.js';
import { HubClient } from '../../src/models/hub-client.js';
import { FakeHub, tinyRepoFiles } from './fake-hub.js';

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
    expect((error as Error).message).toBe(
      `Refusing to download "../escape/model.onnx": it would be written outside ${path.resolve(destDir)}.`,
    );
    expect(hub.requests).toEqual([]);
    expect(await readdir(root)).toEqual([]);
  });
});
