import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/models.js';
import { capturedCliIo } from './cli-io.js';
import { encodeSafetensors } from '../../src/inference/weights/safetensors.js';
import { FakeHub } from './fake-hub.js';

const COMMIT = `${'abcdef0123456789'.repeat(2)}abcdef01`;
let lorasDir: string;
let hub: FakeHub | undefined;
const lora = Buffer.from(
  encodeSafetensors({ 'lora_unet_x.lora_down.weight': { shape: [1, 2], data: [1, 2] } }, { 'modelspec.trigger_phrase': 'ink' }),
);

const io = () => capturedCliIo({ LORAS_DIR: lorasDir, HF_ENDPOINT: hub?.url });

beforeEach(async () => {
  lorasDir = await mkdtemp(path.join(tmpdir(), 'imagine-loras-'));
  hub = await FakeHub.start([
    {
      id: 'someone/ink-lora',
      commit: COMMIT,
      files: [
        { path: 'README.md', content: Buffer.from('hi') },
        { path: 'weights/ink_v2.safetensors', content: lora, lfs: true },
      ],
    },
    {
      id: 'someone/two',
      commit: COMMIT,
      files: [
        { path: 'a.safetensors', content: lora, lfs: true },
        { path: 'b.safetensors', content: lora, lfs: true },
      ],
    },
  ]);
});

afterEach(async () => {
  await hub?.close();
  hub = undefined;
  await rm(lorasDir, { recursive: true, force: true });
});

describe('models:pull --lora', () => {
  it('puts the one .safetensors of a repository in LORAS_DIR under its file name, checksum-verified; a second run finds it installed', async () => {
    const cli = io();
    expect(await main(['pull', '--lora', 'someone/ink-lora'], cli)).toBe(0);
    expect(cli.out()).toContain('Installed LoRA ink_v2');
    expect(cli.out()).toContain('Use it in a prompt: <lora:ink_v2:0.8>');
    expect(await readFile(path.join(lorasDir, 'ink_v2.safetensors'))).toEqual(lora);
    expect(await readdir(lorasDir)).toEqual(['ink_v2.safetensors']);
    const again = io();
    expect(await main(['pull', '--lora', 'someone/ink-lora'], again)).toBe(0);
    expect(again.out()).toContain('Already installed LoRA ink_v2');
  });

  it('asks which file when a repository has several, and takes OWNER/REPO:FILE', async () => {
    const cli = io();
    expect(await main(['pull', '--lora', 'someone/two'], cli)).not.toBe(0);
    expect(cli.err()).toContain('someone/two has 2 .safetensors files (a.safetensors, b.safetensors); name one: --lora someone/two:FILE.');
    expect(await main(['pull', '--lora', 'someone/two:b.safetensors'], io())).toBe(0);
    expect(await readdir(lorasDir)).toEqual(['b.safetensors']);
  });
});
