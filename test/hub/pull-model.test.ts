import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Identifiers, UserError } from '../../src/errors.js';
import { ChecksumError } from '../../src/hub/download-file.js';
import { HubClient, HubRequestError } from '../../src/hub/hub-client.js';
import { listInstalledModels } from '../../src/hub/list-installed-models.js';
import { INCOMPLETE_MARKER, PARTIAL_DIR, pullModel, type PullModelOptions } from '../../src/hub/pull-model.js';
import { bytes, FakeHub, gitBlobSha1, sha256, tinyRepoFiles, type FakeRepo } from './fake-hub.js';

const COMMIT = 'a'.repeat(40);
const PULLED = [
  'imagine-bot.json',
  'model_index.json',
  'scheduler/scheduler_config.json',
  'text_encoder/model.onnx',
  'tokenizer/merges.txt',
  'tokenizer/special_tokens_map.json',
  'tokenizer/tokenizer_config.json',
  'tokenizer/vocab.json',
  'unet/model.onnx',
  'unet/weights.pb',
  'vae_decoder/config.json',
  'vae_decoder/model.onnx',
  'vae_encoder/model.onnx',
];

async function filesUnder(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await filesUnder(path.join(dir, entry.name), rel)));
    else out.push(rel);
  }
  return out.sort();
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

function content(repo: FakeRepo, file: string): Buffer {
  return repo.files.find((f) => f.path === file)!.content;
}

describe('pullModel', () => {
  let hub: FakeHub;
  let modelsDir: string;
  let messages: string[];
  const tiny: FakeRepo = { id: 'tester/Tiny-SD', commit: COMMIT, refs: { v1: COMMIT }, files: tinyRepoFiles() };

  async function start(...repos: FakeRepo[]): Promise<void> {
    hub = await FakeHub.start(repos);
  }

  function pull(overrides: Partial<PullModelOptions> = {}, token?: string): ReturnType<typeof pullModel> {
    return pullModel({
      repo: tiny.id,
      modelsDir,
      client: new HubClient({ endpoint: hub.url, token }),
      retryDelayMs: 0,
      freeBytes: async () => 10 ** 12,
      onMessage: (text) => messages.push(text),
      ...overrides,
    });
  }

  beforeEach(async () => {
    modelsDir = await mkdtemp(path.join(tmpdir(), 'imagine-models-'));
    messages = [];
  });

  afterEach(async () => {
    await hub?.close();
    await rm(modelsDir, { recursive: true, force: true });
  });

  it('downloads only the files the engine needs, byte for byte, into a folder named after the repository', async () => {
    await start(tiny);
    const result = await pull();
    const target = path.join(modelsDir, 'tiny-sd');
    expect(result).toMatchObject({ name: 'tiny-sd', path: target, commit: COMMIT, files: 12, manifest: 'generic' });
    expect(await filesUnder(target)).toEqual(PULLED);
    for (const file of PULLED.filter((f) => f !== 'imagine-bot.json')) {
      expect((await readFile(path.join(target, file))).equals(content(tiny, file))).toBe(true);
    }
    const expectedBytes = PULLED.filter((f) => f !== 'imagine-bot.json').reduce((sum, f) => sum + content(tiny, f).length, 0);
    expect(result.bytes).toBe(expectedBytes);
    // The download area is empty again: nothing half-done is left behind.
    expect(await readdir(path.join(modelsDir, PARTIAL_DIR))).toEqual([]);
  });

  it('asks the model info API for blobs and pins every download to the resolved commit', async () => {
    await start(tiny);
    await pull({ revision: 'v1' });
    const api = hub.requests.filter((r) => r.path.startsWith('/api/'));
    expect(api.map((r) => r.path)).toEqual([`/api/models/tester/Tiny-SD/revision/v1`]);
    const resolves = hub.requests.filter((r) => r.path.includes('/resolve/'));
    expect(resolves).toHaveLength(12);
    for (const r of resolves) expect(r.path).toContain(`/tester/Tiny-SD/resolve/${COMMIT}/`);
    expect(hub.requests.some((r) => /safety_checker|safetensors|sample\.png|README/.test(r.path))).toBe(false);
  });

  it('writes an imagine-bot.json with the source commit and the family guessed from the tokenizer', async () => {
    await start({ ...tiny, files: tinyRepoFiles({ pad: '!' }) });
    await pull();
    const manifest = JSON.parse(await readFile(path.join(modelsDir, 'tiny-sd', 'imagine-bot.json'), 'utf8'));
    expect(manifest).toEqual({ family: 'sd2', defaults: {}, source: { repo: 'tester/Tiny-SD', revision: COMMIT } });
  });

  it('installs under --name when given', async () => {
    await start(tiny);
    const result = await pull({ name: 'my-model' });
    expect(result.path).toBe(path.join(modelsDir, 'my-model'));
    expect(await exists(path.join(modelsDir, 'my-model', 'unet', 'weights.pb'))).toBe(true);
  });

  it('writes the known settings for a known repository and fills its config files from the base repository', async () => {
    const onnxOnly = tinyRepoFiles({ pad: '!' }).filter((f) => /\.onnx$|weights\.pb$/.test(f.path));
    const base = tinyRepoFiles({ pad: '!', className: 'StableDiffusionPipeline' }).filter((f) => !/\.onnx$|weights\.pb$/.test(f.path));
    const turbo: FakeRepo = { id: 'schmuell/sd-turbo-ort-web', commit: 'b'.repeat(40), files: onnxOnly };
    const config: FakeRepo = { id: 'stabilityai/sd-turbo', commit: 'c'.repeat(40), files: base };
    await start(turbo, config);
    const result = await pull({ repo: turbo.id });
    const target = path.join(modelsDir, 'sd-turbo-ort-web');
    expect(result.manifest).toBe('known');
    expect(JSON.parse(await readFile(path.join(target, 'imagine-bot.json'), 'utf8'))).toEqual({
      family: 'sd2',
      defaults: { sampler: 'euler', steps: 1, cfg: 0, width: 512, height: 512 },
      source: { repo: 'schmuell/sd-turbo-ort-web', revision: 'b'.repeat(40) },
    });
    // Turbo starts at t=999: the known entry switches the scheduler to trailing spacing, keeping other keys.
    expect(JSON.parse(await readFile(path.join(target, 'scheduler', 'scheduler_config.json'), 'utf8'))).toEqual({
      _class_name: 'EulerDiscreteScheduler',
      timestep_spacing: 'trailing',
      num_train_timesteps: 1000,
    });
    expect(JSON.parse(await readFile(path.join(target, 'model_index.json'), 'utf8'))._class_name).toBe('StableDiffusionPipeline');
    expect(hub.requests.some((r) => r.path.startsWith(`/stabilityai/sd-turbo/resolve/${'c'.repeat(40)}/tokenizer/`))).toBe(true);
  });

  it("uses a known repository's ONNX branch when no revision is given", async () => {
    await start({ id: 'stable-diffusion-v1-5/stable-diffusion-v1-5', commit: COMMIT, refs: { onnx: COMMIT }, files: tiny.files });
    await pull({ repo: 'stable-diffusion-v1-5/stable-diffusion-v1-5' });
    expect(hub.requests[0].path).toBe('/api/models/stable-diffusion-v1-5/stable-diffusion-v1-5/revision/onnx');
    const manifest = JSON.parse(await readFile(path.join(modelsDir, 'stable-diffusion-v1-5', 'imagine-bot.json'), 'utf8'));
    expect(manifest.defaults).toEqual({ sampler: 'dpmpp_2m_karras', steps: 25, cfg: 7, width: 512, height: 512 });
  });

  it('resumes a cut-off download with a Range request from the bytes already received', async () => {
    await start(tiny);
    hub.faults.truncate.set('unet/weights.pb', [60_000, 50_000]);
    await pull();
    const ranges = hub
      .fileRequests('unet/weights.pb')
      .filter((r) => r.server === 'cdn')
      .map((r) => r.range);
    expect(ranges).toEqual([undefined, 'bytes=60000-', 'bytes=110000-']);
    expect(sha256(await readFile(path.join(modelsDir, 'tiny-sd', 'unet', 'weights.pb')))).toBe(sha256(content(tiny, 'unet/weights.pb')));
    expect(messages.filter((m) => m.startsWith('unet/weights.pb: ')).length).toBe(2);
  });

  it('survives dropped connections and still installs the exact bytes', async () => {
    await start(tiny);
    hub.faults.drop.set('unet/weights.pb', [60_000, 50_000]);
    hub.faults.drop.set('text_encoder/model.onnx', [1_000]);
    await pull();
    const weights = hub.fileRequests('unet/weights.pb').filter((r) => r.server === 'cdn');
    expect(weights).toHaveLength(3);
    // Each retry asks for the bytes after those it kept (how many arrived before the drop varies).
    const starts = weights.map((r) => Number(/^bytes=(\d+)-$/.exec(r.range ?? 'bytes=0-')![1]));
    expect(starts[0]).toBe(0);
    expect(starts[1]).toBeLessThanOrEqual(60_000);
    expect(starts[2]).toBeGreaterThanOrEqual(starts[1]);
    for (const file of ['unet/weights.pb', 'text_encoder/model.onnx']) {
      expect(sha256(await readFile(path.join(modelsDir, 'tiny-sd', file)))).toBe(sha256(content(tiny, file)));
    }
  });

  it('gives up after repeated failures without progress, leaves no model folder, and resumes on the next run', async () => {
    await start(tiny);
    // One try with progress, then two without: with retries 2 the third failure in a row gives up.
    hub.faults.truncate.set('unet/weights.pb', [70_000, 0, 0]);
    const error = await pull({ retries: 2 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HubRequestError);
    expect((error as Error).message).toMatch(/^Downloading unet\/weights\.pb failed 3 times in a row .*Run the command again/);
    expect(await exists(path.join(modelsDir, 'tiny-sd'))).toBe(false);
    expect(await listInstalledModels(modelsDir)).toEqual([]);
    const part = path.join(modelsDir, PARTIAL_DIR, 'tiny-sd', 'unet', 'weights.pb.part');
    expect((await stat(part)).size).toBe(70_000);
    expect(await exists(path.join(modelsDir, PARTIAL_DIR, 'tiny-sd', INCOMPLETE_MARKER))).toBe(true);

    hub.requests.length = 0;
    messages = [];
    await pull();
    expect(
      hub
        .fileRequests('unet/weights.pb')
        .filter((r) => r.server === 'cdn')
        .map((r) => r.range),
    ).toEqual(['bytes=70000-']);
    // Files finished in the first run are not fetched again.
    expect(hub.fileRequests('text_encoder/model.onnx')).toEqual([]);
    expect(messages.some((m) => m.startsWith('resuming the interrupted download'))).toBe(true);
    expect(sha256(await readFile(path.join(modelsDir, 'tiny-sd', 'unet', 'weights.pb')))).toBe(sha256(content(tiny, 'unet/weights.pb')));
  });

  it('rejects a file whose sha256 does not match, deletes it, and installs nothing', async () => {
    await start(tiny);
    hub.faults.corrupt.add('unet/weights.pb');
    const error = await pull().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChecksumError);
    expect((error as ChecksumError).file).toBe('unet/weights.pb');
    expect((error as ChecksumError).expected).toBe(sha256(content(tiny, 'unet/weights.pb')));
    expect((error as Error).message).toContain('unet/weights.pb failed its sha256 check');
    expect(await exists(path.join(modelsDir, 'tiny-sd'))).toBe(false);
    const partial = path.join(modelsDir, PARTIAL_DIR, 'tiny-sd', 'unet');
    expect((await readdir(partial)).sort()).toEqual(['model.onnx']);
    expect(await listInstalledModels(modelsDir)).toEqual([]);
  });

  it('checks a non-LFS file against the git blob sha1 the hub sends as its ETag', async () => {
    await start(tiny);
    hub.faults.corrupt.add('tokenizer/merges.txt');
    const error = await pull().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChecksumError);
    expect((error as ChecksumError).file).toBe('tokenizer/merges.txt');
    expect((error as ChecksumError).expected).toBe(gitBlobSha1(content(tiny, 'tokenizer/merges.txt')));
    expect((error as Error).message).toContain('tokenizer/merges.txt failed its git blob sha1 check');
    expect(await exists(path.join(modelsDir, 'tiny-sd'))).toBe(false);
  });

  it('says which check each file passed: sha256 for LFS files, git sha1 for the others', async () => {
    await start(tiny);
    const notes = new Map<string, string>();
    await pull({ onFileDone: (file, _size, note) => notes.set(file, note) });
    expect(notes.get('model_index.json')).toBe('git sha1 ok');
    expect(notes.get('vae_decoder/config.json')).toBe('git sha1 ok');
    expect(notes.get('unet/weights.pb')).toBe('sha256 ok');
  });

  it('downloads a resumed file afresh once when stale bytes on disk break its checksum', async () => {
    await start(tiny);
    const partialDir = path.join(modelsDir, PARTIAL_DIR, 'tiny-sd');
    await mkdir(path.join(partialDir, 'unet'), { recursive: true });
    await writeFile(path.join(partialDir, INCOMPLETE_MARKER), JSON.stringify({ repo: tiny.id, commit: COMMIT }));
    await writeFile(path.join(partialDir, 'unet', 'weights.pb.part'), bytes(99, 40_000));
    await pull();
    expect(
      hub
        .fileRequests('unet/weights.pb')
        .filter((r) => r.server === 'cdn')
        .map((r) => r.range),
    ).toEqual(['bytes=40000-', undefined]);
    expect(messages).toContain('unet/weights.pb: checksum mismatch after resuming; downloading it again from the start');
    expect(sha256(await readFile(path.join(modelsDir, 'tiny-sd', 'unet', 'weights.pb')))).toBe(sha256(content(tiny, 'unet/weights.pb')));
  });

  describe('says "resumed" only when bytes from the earlier run were kept', () => {
    async function pullWithPart(part: Buffer): Promise<string | undefined> {
      const partialDir = path.join(modelsDir, PARTIAL_DIR, 'tiny-sd');
      await mkdir(path.join(partialDir, 'unet'), { recursive: true });
      await writeFile(path.join(partialDir, INCOMPLETE_MARKER), JSON.stringify({ repo: tiny.id, commit: COMMIT }));
      await writeFile(path.join(partialDir, 'unet', 'weights.pb.part'), part);
      const notes = new Map<string, string>();
      await pull({ onFileDone: (file, _size, note) => notes.set(file, note) });
      return notes.get('unet/weights.pb');
    }

    it('a Range request continued the earlier bytes', async () => {
      await start(tiny);
      expect(await pullWithPart(content(tiny, 'unet/weights.pb').subarray(0, 40_000))).toBe('sha256 ok, resumed');
    });

    it('stale bytes failed the checksum and the file was downloaded again', async () => {
      await start(tiny);
      expect(await pullWithPart(bytes(99, 40_000))).toBe('sha256 ok');
    });

    it('the server ignored the Range header and sent the whole file', async () => {
      await start(tiny);
      hub.faults.ignoreRange = true;
      expect(await pullWithPart(content(tiny, 'unet/weights.pb').subarray(0, 40_000))).toBe('sha256 ok');
      expect(
        hub
          .fileRequests('unet/weights.pb')
          .filter((r) => r.server === 'cdn')
          .map((r) => r.range),
      ).toEqual(['bytes=40000-']);
    });
  });

  it('starts over when a server ignores the Range header', async () => {
    await start(tiny);
    hub.faults.ignoreRange = true;
    hub.faults.truncate.set('unet/weights.pb', [30_000]);
    await pull();
    expect(
      hub
        .fileRequests('unet/weights.pb')
        .filter((r) => r.server === 'cdn')
        .map((r) => r.range),
    ).toEqual([undefined, 'bytes=30000-']);
    expect(sha256(await readFile(path.join(modelsDir, 'tiny-sd', 'unet', 'weights.pb')))).toBe(sha256(content(tiny, 'unet/weights.pb')));
  });

  it('verifies against X-Linked-Etag and X-Linked-Size when the model info has no blob details', async () => {
    await start(tiny);
    hub.faults.hideBlobs = true;
    hub.faults.corrupt.add('vae_decoder/model.onnx');
    const error = await pull().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChecksumError);
    expect((error as ChecksumError).expected).toBe(sha256(content(tiny, 'vae_decoder/model.onnx')));
  });

  it('finishes a .part file that is already complete without fetching it again', async () => {
    await start(tiny);
    const partialDir = path.join(modelsDir, PARTIAL_DIR, 'tiny-sd');
    await mkdir(path.join(partialDir, 'unet'), { recursive: true });
    await writeFile(path.join(partialDir, INCOMPLETE_MARKER), JSON.stringify({ repo: tiny.id, commit: COMMIT }));
    await writeFile(path.join(partialDir, 'unet', 'weights.pb.part'), content(tiny, 'unet/weights.pb'));
    await pull();
    expect(hub.fileRequests('unet/weights.pb')).toEqual([]);
  });

  it('discards an earlier partial download of another commit', async () => {
    await start(tiny);
    const partialDir = path.join(modelsDir, PARTIAL_DIR, 'tiny-sd');
    await mkdir(path.join(partialDir, 'unet'), { recursive: true });
    await writeFile(path.join(partialDir, INCOMPLETE_MARKER), JSON.stringify({ repo: tiny.id, commit: 'f'.repeat(40) }));
    await writeFile(path.join(partialDir, 'unet', 'weights.pb.part'), content(tiny, 'unet/weights.pb'));
    await pull();
    expect(hub.fileRequests('unet/weights.pb').map((r) => r.range)).toEqual([undefined, undefined]);
  });

  it('sends HF_TOKEN to the hub only, never to the CDN it redirects to', async () => {
    await start({ ...tiny, gatedToken: 'hf_secret123' });
    await pull({}, 'hf_secret123');
    const hubRequests = hub.requests.filter((r) => r.server === 'hub');
    const cdnRequests = hub.requests.filter((r) => r.server === 'cdn');
    expect(cdnRequests.length).toBeGreaterThan(0);
    expect(hubRequests.every((r) => r.authorization === 'Bearer hf_secret123')).toBe(true);
    expect(cdnRequests.every((r) => r.authorization === undefined)).toBe(true);
    expect(messages.join('\n')).not.toContain('hf_secret123');
    expect(messages.join('\n')).not.toContain('cdn-secret-signature');
  });

  it('explains a gated repository without a token', async () => {
    await start({ ...tiny, gatedToken: 'hf_secret123' });
    const error = (await pull().catch((e: unknown) => e)) as UserError;
    expect(error).toBeInstanceOf(UserError);
    expect(error.identifier).toBe(Identifiers.NotAllowed);
    expect(error.message).toBe(
      `tester/Tiny-SD is gated: accept its terms at ${hub.url}/tester/Tiny-SD, then set HF_TOKEN to a read token of that account.`,
    );
  });

  it('explains a token without access and never repeats the token', async () => {
    await start({ ...tiny, gatedToken: 'hf_secret123' });
    const error = (await pull({}, 'hf_wrong_token').catch((e: unknown) => e)) as UserError;
    expect(error.identifier).toBe(Identifiers.NotAllowed);
    expect(error.message).toContain('your HF_TOKEN has no access');
    expect(JSON.stringify({ message: error.message, context: error.context })).not.toContain('hf_wrong_token');
  });

  it('says the hub refused an expired or invalid HF_TOKEN, even for a public repository, without repeating it', async () => {
    await start(tiny);
    hub.faults.refusedTokens.add('hf_expired_token');
    const error = (await pull({}, 'hf_expired_token').catch((e: unknown) => e)) as UserError;
    expect(error).toBeInstanceOf(UserError);
    expect(error.identifier).toBe(Identifiers.NotAllowed);
    expect(error.message).toBe(
      'The hub refused your HF_TOKEN (invalid or expired): unset HF_TOKEN for public repositories, or create a new ' +
        `token at ${hub.url}/settings/tokens and set HF_TOKEN to it.`,
    );
    expect(JSON.stringify({ message: error.message, context: error.context, messages })).not.toContain('hf_expired');
  });

  it('still reports an unknown repository as not found when a valid token is set', async () => {
    await start({ ...tiny, gatedToken: 'hf_secret123' });
    const missing = (await pull({ repo: 'tester/nope' }, 'hf_secret123').catch((e: unknown) => e)) as UserError;
    expect(missing.identifier).toBe(Identifiers.NotFound);
    expect(missing.message).toBe(`tester/nope was not found on ${hub.url}: check the repository id (owner/name).`);
  });

  it('reports an unknown repository and an unknown revision in words the user can act on', async () => {
    await start(tiny);
    const missing = (await pull({ repo: 'tester/nope' }).catch((e: unknown) => e)) as UserError;
    expect(missing.identifier).toBe(Identifiers.NotFound);
    expect(missing.message).toBe(`tester/nope was not found on ${hub.url}: check the id, or set HF_TOKEN if it is private.`);
    const badRev = (await pull({ revision: 'nope' }).catch((e: unknown) => e)) as UserError;
    expect(badRev.message).toBe('tester/Tiny-SD has no revision "nope": pass --revision with an existing branch, tag or commit.');
  });

  it('checks free disk space against the download size before fetching any file', async () => {
    await start(tiny);
    let askedFor = '';
    const error = (await pull({
      freeBytes: async (dir) => {
        askedFor = dir;
        return 1000;
      },
    }).catch((e: unknown) => e)) as UserError;
    expect(error).toBeInstanceOf(UserError);
    const needed = PULLED.filter((f) => f !== 'imagine-bot.json').reduce((sum, f) => sum + content(tiny, f).length, 0);
    expect(error.context).toEqual({ needed, free: 1000 });
    expect(error.message).toBe(
      `Not enough disk space in ${modelsDir}: tester/Tiny-SD needs ${Math.round(needed / 1000)} kB more, 1.00 kB is ` +
        'free. Free some space or set MODELS_DIR to a larger disk.',
    );
    expect(askedFor.startsWith(modelsDir)).toBe(true);
    expect(hub.requests.filter((r) => r.path.includes('/resolve/'))).toEqual([]);
  });

  it('lets only one of two concurrent pulls of a repository download; the other is refused by the lock', async () => {
    await start(tiny);
    const results = await Promise.allSettled([pull(), pull()]);
    const fulfilled = results.filter((r) => r.status === 'fulfilled');
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(fulfilled).toHaveLength(1);
    expect(rejected).toHaveLength(1);
    const error = rejected[0].reason as UserError;
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(
      `Another models:pull is downloading tester/Tiny-SD into ${path.join(modelsDir, PARTIAL_DIR, 'tiny-sd')} ` +
        `(pid ${process.pid}); wait for it or stop it.`,
    );
    const target = path.join(modelsDir, 'tiny-sd');
    expect(await filesUnder(target)).toEqual(PULLED);
    for (const file of PULLED.filter((f) => f !== 'imagine-bot.json')) {
      expect((await readFile(path.join(target, file))).equals(content(tiny, file)), file).toBe(true);
    }
    // Each file was fetched once: the refused pull downloaded nothing.
    expect(hub.requests.filter((r) => r.path.includes('/resolve/'))).toHaveLength(12);
    expect(await readdir(path.join(modelsDir, PARTIAL_DIR))).toEqual([]);
  });

  it('takes over a lock left by a models:pull that no longer runs, and says so', async () => {
    await start(tiny);
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    const lockFile = path.join(modelsDir, PARTIAL_DIR, 'tiny-sd.lock');
    await mkdir(path.dirname(lockFile), { recursive: true });
    await writeFile(lockFile, JSON.stringify({ pid: dead, repo: tiny.id }));
    const result = await pull();
    expect(result.files).toBe(12);
    expect(messages).toContain(`taking over ${lockFile}: the models:pull that held it (pid ${dead}) is no longer running`);
    expect(await exists(lockFile)).toBe(false);
  });

  it('refuses to start while a running process holds the lock, before any request', async () => {
    await start(tiny);
    const lockFile = path.join(modelsDir, PARTIAL_DIR, 'tiny-sd.lock');
    await mkdir(path.dirname(lockFile), { recursive: true });
    await writeFile(lockFile, JSON.stringify({ pid: process.ppid, repo: 'other/Tiny-SD' }));
    const error = (await pull().catch((e: unknown) => e)) as UserError;
    expect(error.message).toBe(
      `Another models:pull is downloading other/Tiny-SD into ${path.join(modelsDir, PARTIAL_DIR, 'tiny-sd')} ` +
        `(pid ${process.ppid}); wait for it or stop it.`,
    );
    expect(hub.requests).toEqual([]);
    expect(JSON.parse(await readFile(lockFile, 'utf8'))).toEqual({ pid: process.ppid, repo: 'other/Tiny-SD' });
  });

  it('refuses to start while the lock file is unreadable, and says how to clear it', async () => {
    await start(tiny);
    const partialDir = path.join(modelsDir, PARTIAL_DIR, 'tiny-sd');
    await mkdir(path.dirname(partialDir), { recursive: true });
    await writeFile(`${partialDir}.lock`, '');
    const error = (await pull().catch((e: unknown) => e)) as UserError;
    expect(error.message).toBe(
      `Another models:pull is downloading into ${partialDir}; wait for it, or delete ${partialDir}.lock if none is running.`,
    );
    expect(hub.requests).toEqual([]);
  });

  it('refuses a repository that lists a needed file under a name that could escape the model folder', async () => {
    const bad = 'text_encoder/..\\..\\..\\x.onnx_data';
    await start({ ...tiny, files: [...tinyRepoFiles(), { path: bad, content: bytes(9, 100), lfs: true }] });
    const error = (await pull().catch((e: unknown) => e)) as UserError;
    expect(error).toBeInstanceOf(UserError);
    expect(error.identifier).toBe(Identifiers.InvalidModel);
    expect(error.message).toContain(`lists a needed file under an unsafe name, ${JSON.stringify(bad)}`);
    expect(hub.requests.filter((r) => r.path.includes('/resolve/'))).toEqual([]);
    expect(await filesUnder(modelsDir)).toEqual([]);
  });

  it('skips unneeded files with unsafe names with a warning and installs the model', async () => {
    const extra = [
      { path: '/etc/evil.png', content: bytes(10, 10) },
      { path: 'C:/evil.txt', content: bytes(11, 10) },
    ];
    await start({ ...tiny, files: [...tinyRepoFiles(), ...extra] });
    await pull();
    expect(await filesUnder(path.join(modelsDir, 'tiny-sd'))).toEqual(PULLED);
    expect(messages).toContain('skipping "/etc/evil.png": it starts with "/", and the engine does not need it');
    expect(messages).toContain('skipping "C:/evil.txt": it has a drive letter, and the engine does not need it');
  });

  it('refuses an SD3 repository before downloading anything', async () => {
    const sd3 = [...tinyRepoFiles(), { path: 'text_encoder_3/model.onnx', content: bytes(9, 100), lfs: true }];
    await start({ ...tiny, files: sd3 });
    const error = (await pull().catch((e: unknown) => e)) as UserError;
    expect(error.identifier).toBe(Identifiers.InvalidModel);
    expect(error.message).toContain('is a pipeline the engine does not run (it has text_encoder_3)');
    expect(hub.requests.filter((r) => r.path.includes('/resolve/'))).toEqual([]);
  });

  it('pulls a known SDXL-Turbo repository: second encoder and tokenizer, model.onnx_data, Turbo settings', async () => {
    const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
    const sdxl = [
      ...tinyRepoFiles({ className: 'ORTStableDiffusionXLPipeline' }),
      { path: 'tokenizer_2/vocab.json', content: json({ '!': 0, 'a</w>': 1 }) },
      { path: 'tokenizer_2/merges.txt', content: Buffer.from('#version: 0.2\na b\n') },
      { path: 'tokenizer_2/special_tokens_map.json', content: json({ pad_token: '!' }) },
      { path: 'text_encoder_2/model.onnx', content: bytes(9, 3_000), lfs: true },
      { path: 'text_encoder_2/model.onnx_data', content: bytes(10, 50_000), lfs: true },
    ];
    await start({ id: 'stabilityai/sdxl-turbo', commit: COMMIT, files: sdxl });
    const result = await pull({ repo: 'stabilityai/sdxl-turbo' });
    const target = path.join(modelsDir, 'sdxl-turbo');
    expect(result.path).toBe(target);
    const pulled = await filesUnder(target);
    for (const f of [
      'text_encoder_2/model.onnx',
      'text_encoder_2/model.onnx_data',
      'tokenizer_2/vocab.json',
      'tokenizer_2/merges.txt',
      'tokenizer_2/special_tokens_map.json',
    ]) {
      expect(pulled).toContain(f);
    }
    expect(JSON.parse(await readFile(path.join(target, 'imagine-bot.json'), 'utf8'))).toEqual({
      family: 'sdxl',
      defaults: { sampler: 'euler', steps: 1, cfg: 0, width: 512, height: 512 },
      source: { repo: 'stabilityai/sdxl-turbo', revision: COMMIT },
    });
    expect(JSON.parse(await readFile(path.join(target, 'scheduler', 'scheduler_config.json'), 'utf8')).timestep_spacing).toBe('trailing');
  });

  it('refuses an SD3 pipeline class named in model_index.json after fetching only that file', async () => {
    await start({ ...tiny, files: tinyRepoFiles({ className: 'StableDiffusion3Pipeline' }) });
    const error = (await pull().catch((e: unknown) => e)) as UserError;
    expect(error.message).toContain('model_index.json says StableDiffusion3Pipeline');
    expect(hub.requests.filter((r) => r.path.includes('/resolve/')).map((r) => r.path)).toEqual([
      `/tester/Tiny-SD/resolve/${COMMIT}/model_index.json`,
    ]);
    expect(await exists(path.join(modelsDir, 'tiny-sd'))).toBe(false);
  });

  it('lists every missing required file of a repository without an ONNX export', async () => {
    const files = tinyRepoFiles().filter((f) => !['unet/model.onnx', 'vae_decoder/model.onnx'].includes(f.path));
    await start({ ...tiny, files });
    const error = (await pull().catch((e: unknown) => e)) as UserError;
    expect(error.message).toBe(
      'tester/Tiny-SD is not a diffusers ONNX export the engine can use: missing unet/model.onnx, ' +
        'vae_decoder/model.onnx. Pick an ONNX repository (docs/models.md lists known ones) or a --revision that has one.',
    );
  });

  it('refuses to overwrite an installed model unless forced, and keeps its imagine-bot.json edits when forced', async () => {
    await start(tiny);
    await pull();
    const manifestFile = path.join(modelsDir, 'tiny-sd', 'imagine-bot.json');
    await writeFile(manifestFile, JSON.stringify({ family: 'sd1', defaults: { steps: 9 } }));
    const error = (await pull().catch((e: unknown) => e)) as UserError;
    expect(error.message).toMatch(/tiny-sd already exists: pass --force/);

    const result = await pull({ force: true });
    expect(result.manifest).toBe('kept');
    expect(JSON.parse(await readFile(manifestFile, 'utf8'))).toEqual({
      family: 'sd1',
      defaults: { steps: 9 },
      source: { repo: 'tester/Tiny-SD', revision: COMMIT },
    });
    expect(await readdir(path.join(modelsDir, PARTIAL_DIR))).toEqual([]);
  });

  it('reports progress that adds up to the total', async () => {
    await start(tiny);
    const seen: { done: number; total: number; file: string }[] = [];
    const result = await pull({ onProgress: (p) => seen.push({ done: p.doneBytes, total: p.totalBytes, file: p.file }) });
    const last = seen[seen.length - 1];
    expect(last).toEqual({ done: result.bytes, total: result.bytes, file: 'vae_encoder/model.onnx' });
    for (let i = 1; i < seen.length; i++) expect(seen[i].done).toBeGreaterThanOrEqual(seen[i - 1].done);
  });
});
