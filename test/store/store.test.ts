import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Job } from '../../src/store/job-record.js';
import { decodeRequest } from '../../src/store/job-repository.js';
import { DATABASE_FILE, Store } from '../../src/store/store.js';
import { StoreError } from '../../src/store/store-error.js';
import { LATEST_VERSION, migrate } from '../../src/store/migrations.js';
import { JobRepository } from '../../src/store/job-repository.js';
import { createLogger } from '../../src/logger.js';
import { JobRequestSchema } from '../../src/protocol/generate-request.js';
import { fakeJob } from '../fixtures/jobs.js';
import { smallRequest } from '../fixtures/requests.js';

const dirs: string[] = [];
const stores: Store[] = [];

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'imagine-store-'));
  dirs.push(dir);
  return dir;
}

function open(dir: string): Store {
  const store = Store.open(dir);
  stores.push(store);
  return store;
}

afterEach(() => {
  for (const store of stores.splice(0)) store.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Permission bits of a file or folder, as `0o755` would be written. */
const modeOf = (file: string) => statSync(file).mode & 0o777;

function newJob(id: string, overrides: Partial<Job> = {}): Omit<Job, 'seq'> {
  const { seq: _seq, ...job } = fakeJob({
    id,
    guildId: 'g1',
    channelId: 'c1',
    userId: 'u1',
    interactionId: 'i1',
    interactionToken: 'secret-token',
    interactionCreatedAt: 1_700_000_000_000,
    createdAt: 1_700_000_000_500,
    ...overrides,
  });
  return job;
}

describe('Store', () => {
  it('creates the database in WAL mode with every migration recorded', () => {
    const dir = tempDir();
    const store = open(dir);
    expect(store.databasePath).toBe(path.join(dir, DATABASE_FILE));
    expect(store.schemaVersion).toBe(LATEST_VERSION);
    store.close();
    const db = new BetterSqlite3(path.join(dir, DATABASE_FILE), { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    const versions = db.prepare('SELECT version FROM schema_migrations ORDER BY version').all();
    db.close();
    expect(versions).toEqual(Array.from({ length: LATEST_VERSION }, (_, i) => ({ version: i + 1 })));
  });

  it('reopens an existing database without re-running migrations and keeps its jobs', () => {
    const dir = tempDir();
    open(dir).jobs.insert(newJob('a'));
    stores[0]!.close();
    const again = open(dir);
    expect(again.jobs.get('a')?.request).toEqual(smallRequest());
  });

  it('refuses a file that is not a SQLite database with a clear message', () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, DATABASE_FILE), 'this is not sqlite, just some text that is long enough '.repeat(20));
    expect(() => Store.open(dir)).toThrow(StoreError);
    expect(() => Store.open(dir)).toThrow(/is not a usable SQLite database .*move the file aside/);
  });

  it('refuses a database written by a newer version', () => {
    const dir = tempDir();
    open(dir).close();
    const db = new BetterSqlite3(path.join(dir, DATABASE_FILE));
    db.prepare('INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)').run(LATEST_VERSION + 1, 'future', 0);
    db.close();
    expect(() => Store.open(dir)).toThrow(`has schema version ${LATEST_VERSION + 1}, but this bot knows versions up to ${LATEST_VERSION}`);
  });

  it('reports a DATA_DIR that cannot be created', () => {
    // Below a regular file, so mkdir fails even for root (which ignores permission bits).
    const dir = tempDir();
    writeFileSync(path.join(dir, 'file'), 'x');
    const dataDir = path.join(dir, 'file', 'data');
    expect(() => Store.open(dataDir)).toThrow(`DATA_DIR ${dataDir} cannot be created or written to. Point DATA_DIR at a writable folder.`);
  });

  it('reports a DATA_DIR that is a file', () => {
    const dir = tempDir();
    const file = path.join(dir, 'not-a-dir');
    writeFileSync(file, 'x');
    expect(() => Store.open(file)).toThrow(StoreError);
  });
});

describe('file modes', () => {
  it('creates DATA_DIR 0700 and the database files 0600', () => {
    const dir = path.join(tempDir(), 'data');
    const store = open(dir);
    store.jobs.insert(newJob('a'));
    expect(modeOf(dir)).toBe(0o700);
    for (const suffix of ['', '-wal', '-shm']) {
      const file = `${store.databasePath}${suffix}`;
      expect(existsSync(file), file).toBe(true);
      expect(modeOf(file), file).toBe(0o600);
    }
    expect(modeOf(path.join(dir, 'outputs'))).toBe(0o700);
  });

  it('stores uploads under inputs/<random>/image.png, private, and reads them back by reference', async () => {
    const dir = path.join(tempDir(), 'data');
    const store = open(dir);
    const ref = await store.images.writeInput(Buffer.from('png bytes'));
    expect(ref).toMatch(/^inputs\/[\w-]{16}\/image\.png$/);
    expect(JobRequestSchema.shape.mode.options[1].shape.image.safeParse({ ref }).success).toBe(true);
    expect(modeOf(path.join(dir, 'inputs'))).toBe(0o700);
    expect(modeOf(path.dirname(path.join(dir, ref)))).toBe(0o700);
    expect(modeOf(path.join(dir, ref))).toBe(0o600);
    expect((await store.images.read(ref)).toString()).toBe('png bytes');
    expect(await store.images.writeInput(Buffer.from('other'))).not.toBe(ref);
  });

  it('tightens database files an older version left readable by others', () => {
    const dir = tempDir();
    open(dir).jobs.insert(newJob('a'));
    stores[0]!.close();
    for (const suffix of ['', '-wal', '-shm']) {
      if (existsSync(path.join(dir, DATABASE_FILE + suffix))) chmodSync(path.join(dir, DATABASE_FILE + suffix), 0o644);
    }
    const store = open(dir);
    for (const suffix of ['', '-wal', '-shm']) expect(modeOf(`${store.databasePath}${suffix}`)).toBe(0o600);
  });

  it('leaves an existing DATA_DIR as it is but warns when other users can read it', () => {
    const dir = tempDir();
    chmodSync(dir, 0o755);
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(String(chunk));
        callback();
      },
    });
    stores.push(Store.open(dir, { logger: createLogger({ level: 'warn', destination }) }));
    expect(modeOf(dir)).toBe(0o755);
    expect(lines.join('')).toContain(`chmod 700 ${dir}`);

    const privateDir = tempDir();
    chmodSync(privateDir, 0o700);
    lines.length = 0;
    stores.push(Store.open(privateDir, { logger: createLogger({ level: 'warn', destination }) }));
    expect(lines).toEqual([]);
  });

  it('writes images 0600 in folders 0700', async () => {
    const store = open(tempDir());
    const written = await store.images.write('job_1', 0, new Uint8Array([1, 2, 3]));
    expect(modeOf(written)).toBe(0o600);
    expect(modeOf(path.dirname(written))).toBe(0o700);
    expect(modeOf(store.images.root)).toBe(0o700);
  });
});

describe('JobRepository', () => {
  it('stores every field and assigns increasing seq numbers', () => {
    const store = open(tempDir());
    const image = { ref: 'outputs/parent/0.png' };
    const first = store.jobs.insert(newJob('a', { request: smallRequest({ mode: { kind: 'img2img', image, strength: 0.5 } }) }));
    const second = store.jobs.insert(newJob('b', { kind: 'reroll', parentJobId: 'a', messageId: 'm9' }));
    expect(second.seq).toBe(first.seq + 1);
    const loaded = store.jobs.get('a')!;
    expect(loaded).toEqual(first);
    expect(loaded.request.mode).toEqual({ kind: 'img2img', image: { ref: 'outputs/parent/0.png' }, strength: 0.5 });
    expect(store.jobs.get('b')).toMatchObject({ kind: 'reroll', parentJobId: 'a', messageId: 'm9', interactionToken: 'secret-token' });
    expect(store.jobs.get('missing')).toBeUndefined();
  });

  it('keeps the message a message-made job replies to, and finds a job by its message id', () => {
    const store = open(tempDir());
    store.jobs.insert(newJob('a', { messageId: 'm1' }));
    store.jobs.insert(newJob('b', { kind: 'refine', parentJobId: 'a', interactionToken: null, replyToMessageId: 'reply1' }));
    expect(store.jobs.get('b')).toMatchObject({ kind: 'refine', replyToMessageId: 'reply1', messageId: null });
    expect(store.jobs.getByMessageId('m1')?.id).toBe('a');
    expect(store.jobs.getByMessageId('reply1')).toBeUndefined();
    store.jobs.setMessageId('b', 'm2');
    expect(store.jobs.getByMessageId('m2')?.id).toBe('b');
  });

  it('revives image bytes from rows written before image references, so an upgrade loses no queued job', () => {
    const legacy = JSON.stringify({
      ...smallRequest(),
      mode: { kind: 'upscale', image: { $bytes: Buffer.from([1, 2, 3, 250]).toString('base64') }, strength: 0.3 },
    });
    const mode = decodeRequest(legacy).mode as unknown as { image: Uint8Array };
    expect(mode.image).toBeInstanceOf(Uint8Array);
    expect([...mode.image]).toEqual([1, 2, 3, 250]);
  });

  it('moves jobs through their states and refuses to leave a final state', () => {
    const store = open(tempDir());
    store.jobs.insert(newJob('a'));
    expect(store.jobs.markRunning('a', 10)).toBe(true);
    expect(store.jobs.get('a')).toMatchObject({ state: 'running', startedAt: 10, attempts: 1 });
    const timings = { totalMs: 5, inferenceMs: 4, previewMs: 0, loadMs: 1 };
    const output = { path: path.join(store.dataDir, 'outputs', 'a', '0.png'), seed: 7, width: 64, height: 64, parameters: 'p' };
    expect(store.jobs.complete('a', { outputs: [output], seeds: [7], warnings: ['w'], timings, finishedAt: 20 })).toBe(true);
    // A second commit (a rerun after a restart) changes nothing.
    expect(store.jobs.complete('a', { outputs: [], seeds: [1], warnings: [], timings, finishedAt: 30 })).toBe(false);
    expect(store.jobs.fail('a', { name: 'E', message: 'm', userFacing: false, ref: 'r' }, 40)).toBe(false);
    expect(store.jobs.cancel('a', 'u1', 50)).toBe(false);
    expect(store.jobs.get('a')).toMatchObject({ state: 'done', seeds: [7], warnings: ['w'], timings, finishedAt: 20, outputs: [output] });
  });

  it('lists unfinished jobs in submission order and requeues interrupted ones', () => {
    const store = open(tempDir());
    for (const id of ['a', 'b', 'c', 'd']) store.jobs.insert(newJob(id));
    store.jobs.markRunning('b', 1);
    store.jobs.cancel('c', 'u1', 2);
    expect(store.jobs.listUnfinished().map((job) => [job.id, job.state])).toEqual([
      ['a', 'queued'],
      ['b', 'running'],
      ['d', 'queued'],
    ]);
    expect(store.jobs.requeue('b')).toBe(true);
    expect(store.jobs.requeue('a')).toBe(false);
    expect(store.jobs.get('b')).toMatchObject({ state: 'queued', startedAt: null, attempts: 1 });
  });

  it('offers finished jobs until they are marked delivered', () => {
    const store = open(tempDir());
    store.jobs.insert(newJob('a'));
    store.jobs.insert(newJob('b'));
    store.jobs.fail('a', { name: 'UserError', message: 'bad', identifier: 'invalidSize', userFacing: true, ref: 'abcd' }, 5);
    expect(store.jobs.listUndelivered().map((job) => job.id)).toEqual(['a']);
    expect(store.jobs.markDelivered('a', 6)).toBe(true);
    expect(store.jobs.markDelivered('a', 7)).toBe(false);
    expect(store.jobs.listUndelivered()).toEqual([]);
    expect(store.jobs.get('a')).toMatchObject({ deliveredAt: 6, error: { identifier: 'invalidSize', ref: 'abcd' } });
  });

  it('throws when the commit of an insert fails instead of returning a job that was never stored', () => {
    const dir = tempDir();
    const db = new BetterSqlite3(path.join(dir, DATABASE_FILE));
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('foreign_keys = ON');
      migrate(db);
      const jobs = new JobRepository(db, dir);
      jobs.insert(newJob('a'));
      // A deferred constraint is checked only at COMMIT: the statement itself succeeds, the autocommit fails, as
      // a full disk or an I/O error while writing the WAL does.
      db.exec(`CREATE TEMP TABLE parent (id INTEGER PRIMARY KEY);
        CREATE TEMP TABLE child (parent_id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
        CREATE TEMP TRIGGER fail_commit AFTER INSERT ON main.jobs BEGIN INSERT INTO child VALUES (1); END;`);
      expect(() => jobs.insert(newJob('b'))).toThrow(/FOREIGN KEY/);
      expect(jobs.get('b')).toBeUndefined();
      expect(jobs.get('a')).toMatchObject({ id: 'a', seq: 1 });
    } finally {
      db.close();
    }
  });

  it('throws SQLITE_FULL on a full database and keeps every job it reported stored', () => {
    const dir = tempDir();
    // max_page_count is clamped to the current size: the file cannot grow at all.
    const store = Store.open(dir, { maxPageCount: 1 });
    stores.push(store);
    const stored: Job[] = [];
    let error: unknown;
    for (let i = 0; i < 1000 && error === undefined; i += 1) {
      try {
        stored.push(store.jobs.insert(newJob(`job-${i}`, { request: smallRequest({ prompt: 'p'.repeat(500) }) })));
      } catch (caught) {
        error = caught;
      }
    }
    expect(error).toMatchObject({ code: 'SQLITE_FULL' });
    store.close();
    const reopened = open(dir);
    expect(reopened.jobs.listUnfinished().map((job) => job.id)).toEqual(stored.map((job) => job.id));
  });

  it('clears the interaction token once the final message is delivered', () => {
    const dir = tempDir();
    const store = open(dir);
    store.jobs.insert(newJob('a', { interactionCreatedAt: Date.now() }));
    store.jobs.fail('a', { name: 'E', message: 'm', userFacing: false, ref: 'r' }, 5);
    expect(store.jobs.get('a')?.interactionToken).toBe('secret-token');
    expect(store.jobs.markDelivered('a', 6)).toBe(true);
    expect(store.jobs.get('a')).toMatchObject({ deliveredAt: 6, interactionToken: null });
    store.close();
    // The row itself, not only what the repository hands out.
    const db = new BetterSqlite3(path.join(dir, DATABASE_FILE), { readonly: true });
    const row = db.prepare('SELECT interaction_token FROM jobs WHERE id = ?').get('a');
    db.close();
    expect(row).toEqual({ interaction_token: null });
  });

  it('clears expired interaction tokens when the store opens and keeps fresh ones', () => {
    const dir = tempDir();
    const now = Date.now();
    const store = open(dir);
    store.jobs.insert(newJob('expired', { interactionCreatedAt: now - 15 * 60_000 - 1000 }));
    store.jobs.insert(newJob('fresh', { interactionCreatedAt: now - 60_000 }));
    store.jobs.insert(newJob('undated', { interactionCreatedAt: null }));
    store.close();
    const reopened = open(dir);
    expect(reopened.jobs.get('expired')?.interactionToken).toBeNull();
    expect(reopened.jobs.get('undated')?.interactionToken).toBeNull();
    expect(reopened.jobs.get('fresh')?.interactionToken).toBe('secret-token');
    // Only the token goes: the job is still there to resume.
    expect(reopened.jobs.listUnfinished().map((job) => job.id)).toEqual(['expired', 'fresh', 'undated']);
  });

  it('keeps output paths valid when DATA_DIR moves', () => {
    const dir = tempDir();
    const store = open(dir);
    store.jobs.insert(newJob('a'));
    const output = { path: path.join(dir, 'outputs', 'a', '0.png'), seed: 1, width: 8, height: 8, parameters: '' };
    store.jobs.complete('a', {
      outputs: [output],
      seeds: [1],
      warnings: [],
      timings: { totalMs: 1, inferenceMs: 1, previewMs: 0, loadMs: 0 },
      finishedAt: 1,
    });
    store.close();
    const moved = `${dir}-moved`;
    dirs.push(moved);
    renameSync(dir, moved);
    const reopened = open(moved);
    expect(reopened.jobs.get('a')!.outputs[0]!.path).toBe(path.join(moved, 'outputs', 'a', '0.png'));
  });
});

describe('GuildSettingsRepository', () => {
  const schema = z.object({
    maxQueuedPerUser: z.number().int().min(1).max(10).default(3),
    defaultSteps: z.number().int().min(1).max(150).default(20),
  });

  it('returns the schema defaults for a guild never configured', () => {
    expect(open(tempDir()).guildSettings(schema).get('g')).toEqual({ maxQueuedPerUser: 3, defaultSteps: 20 });
  });

  it('validates on set and reads back what was stored', () => {
    const settings = open(tempDir()).guildSettings(schema);
    expect(settings.set('g', { maxQueuedPerUser: 5 })).toEqual({ maxQueuedPerUser: 5, defaultSteps: 20 });
    expect(settings.get('g')).toEqual({ maxQueuedPerUser: 5, defaultSteps: 20 });
    expect(() => settings.set('g', { maxQueuedPerUser: 99 })).toThrow();
    expect(settings.get('g').maxQueuedPerUser).toBe(5);
    settings.reset('g');
    expect(settings.get('g').maxQueuedPerUser).toBe(3);
  });

  it('falls back to defaults when stored settings no longer pass a tightened schema', () => {
    const store = open(tempDir());
    store.guildSettings(schema).set('g', { maxQueuedPerUser: 10 });
    const tighter = z.object({ maxQueuedPerUser: z.number().max(5).default(2) });
    expect(store.guildSettings(tighter).get('g')).toEqual({ maxQueuedPerUser: 2 });
  });
});

describe('ImageFiles', () => {
  it('writes PNGs atomically under outputs/<jobId>/<n>.png and leaves no temp files', async () => {
    const store = open(tempDir());
    const bytes = new Uint8Array([0x89, 0x50, 0x4e, 0x47]);
    const written = await store.images.write('job_1', 2, bytes);
    expect(written).toBe(path.join(store.dataDir, 'outputs', 'job_1', '2.png'));
    expect([...readFileSync(written)]).toEqual([...bytes]);
    await store.images.write('job_1', 2, new Uint8Array([9]));
    expect([...readFileSync(written)]).toEqual([9]);
    expect(readdirSync(path.dirname(written))).toEqual(['2.png']);
    store.images.remove('job_1');
    expect(existsSync(path.dirname(written))).toBe(false);
  });

  it('refuses job ids that could escape the outputs folder', () => {
    const store = open(tempDir());
    expect(() => store.images.pathFor('../etc', 0)).toThrow(TypeError);
    expect(() => store.images.pathFor('ok', -1)).toThrow(TypeError);
  });
});

describe('meta', () => {
  it('stores small JSON values', () => {
    const store = open(tempDir());
    expect(store.getMeta('rate')).toBeUndefined();
    store.setMeta('rate', 0.25);
    store.setMeta('rate', 0.5);
    expect(store.getMeta<number>('rate')).toBe(0.5);
  });
});
