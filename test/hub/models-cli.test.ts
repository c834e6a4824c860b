import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/models.js';
import { capturedCliIo } from './cli-io.js';
import { FakeHub, tinyRepoFiles } from './fake-hub.js';

const COMMIT = `${'1234567890abcdef'.repeat(2)}12345678`;
let modelsDir: string;
let hub: FakeHub | undefined;

const io = (env: NodeJS.ProcessEnv = {}) => capturedCliIo({ MODELS_DIR: modelsDir, ...env }, { freeBytes: async () => 10 ** 12 });

beforeEach(async () => {
  modelsDir = await mkdtemp(path.join(tmpdir(), 'imagine-cli-'));
});

afterEach(async () => {
  await hub?.close();
  hub = undefined;
  await rm(modelsDir, { recursive: true, force: true });
});

describe('models CLI', () => {
  it.each([
    [[], 'Missing command: use pull or list.'],
    [['fetch'], 'Unknown command "fetch": use pull or list.'],
    [['pull'], 'models:pull needs a repository id, e.g. npm run models:pull -- stabilityai/sd-turbo.'],
    [['pull', 'a/b', 'c/d'], 'models:pull takes one repository id; got 2: a/b c/d.'],
    [['pull', 'not a repo'], '"not a repo" is not a Hugging Face repository id: use owner/name, e.g. stabilityai/sd-turbo.'],
    [['pull', 'a/b', '--name', '../evil'], '"../evil" cannot be a model folder name'],
    [['pull', 'a/b', '--revision', ''], '--revision needs a branch, tag or commit sha.'],
    [['pull', 'a/b', '--bogus'], "Unknown option '--bogus'"],
    [['list', 'extra'], 'models:list takes no arguments; got "extra".'],
  ])('exits 2 with a one-line reason and the usage for %j', async (argv, reason) => {
    const cli = io();
    expect(await main(argv, cli)).toBe(2);
    expect(cli.err().split('\n')[0]).toContain(reason);
    expect(cli.err()).toContain('Usage:');
  });

  it('exits 2 on a malformed HF_ENDPOINT', async () => {
    const cli = io({ HF_ENDPOINT: 'not-a-url' });
    expect(await main(['pull', 'a/b'], cli)).toBe(2);
    expect(cli.err()).toContain('HF_ENDPOINT must be an http(s) URL; got "not-a-url".');
  });

  it('pulls a model and then lists it with its size, family and source', async () => {
    hub = await FakeHub.start([{ id: 'tester/Tiny-SD', commit: COMMIT, files: tinyRepoFiles() }]);
    const pull = io({ HF_ENDPOINT: hub.url });
    expect(await main(['pull', 'tester/Tiny-SD'], pull)).toBe(0);
    expect(pull.out()).toMatch(new RegExp(`^Installed tiny-sd \\(2\\d\\d kB, 12 files\\) from tester/Tiny-SD@${COMMIT.slice(0, 12)} in `));
    expect(pull.err()).toContain('  unet/weights.pb 200 kB sha256 ok\n');
    expect(pull.err()).toContain(`tester/Tiny-SD@main is commit ${COMMIT}`);

    const list = io();
    expect(await main(['list'], list)).toBe(0);
    const lines = list.out().trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME +SIZE +FAMILY +DEFAULTS +SOURCE$/);
    expect(lines[1]).toMatch(new RegExp(`^tiny-sd +2\\d\\d kB +sd1 +- +tester/Tiny-SD@${COMMIT.slice(0, 12)}$`));

    const json = io();
    expect(await main(['list', '--json'], json)).toBe(0);
    expect(JSON.parse(json.out())).toMatchObject([{ name: 'tiny-sd', valid: true, family: 'sd1' }]);
  });

  it('exits 1 with the reason and never prints the token when access is refused', async () => {
    hub = await FakeHub.start([{ id: 'o/gated', commit: COMMIT, files: tinyRepoFiles(), gatedToken: 'hf_right' }]);
    const cli = io({ HF_ENDPOINT: hub.url, HF_TOKEN: 'hf_wrong_secret' });
    expect(await main(['pull', 'o/gated'], cli)).toBe(1);
    expect(cli.err()).toBe(`o/gated is gated and your HF_TOKEN has no access: accept its terms at ${hub.url}/o/gated with the token's account.\n`);
    expect(cli.err() + cli.out()).not.toContain('hf_wrong_secret');
  });

  it('exits 1 on a checksum failure and leaves nothing listed', async () => {
    hub = await FakeHub.start([{ id: 'tester/Tiny-SD', commit: COMMIT, files: tinyRepoFiles() }]);
    hub.faults.corrupt.add('unet/model.onnx');
    const cli = io({ HF_ENDPOINT: hub.url });
    expect(await main(['pull', 'tester/Tiny-SD'], cli)).toBe(1);
    expect(cli.err()).toContain('unet/model.onnx failed its sha256 check');
    const list = io();
    await main(['list'], list);
    expect(list.out()).toBe(`No models in ${modelsDir}. Get one with: npm run models:pull -- <owner/name>\n`);
  });

  it('prints the known repositories with their settings', async () => {
    const cli = io();
    expect(await main(['list', '--known'], cli)).toBe(0);
    expect(cli.out()).toContain('stable-diffusion-v1-5/stable-diffusion-v1-5 --revision onnx\n');
    expect(cli.out()).toContain('  sd2: euler, 1 step, cfg 0, 512x512\n');
  });

  it('runs as a script through the npm entry point and exits 2 on bad arguments', async () => {
    const tsx = path.resolve('node_modules/.bin/tsx');
    const run = promisify(execFile);
    const error = (await run(tsx, ['src/cli/models.ts', 'pull'], {
      env: { ...process.env, MODELS_DIR: modelsDir },
    }).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(error.code).toBe(2);
    expect(error.stderr).toContain('models:pull needs a repository id');
    const listed = await run(tsx, ['src/cli/models.ts', 'list'], { env: { ...process.env, MODELS_DIR: modelsDir } });
    expect(listed.stdout).toBe(`No models in ${modelsDir}. Get one with: npm run models:pull -- <owner/name>\n`);
  });
});
