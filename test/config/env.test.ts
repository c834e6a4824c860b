import { describe, expect, it } from 'vitest';
import { engineOptionsFromEnv, localWorkersFromEnv, parseEngineEnv, parseEnv, parseRemoteWorkerEnv } from '../../src/config/env.js';

// Shaped like a bot token, but made up.
const TOKEN = 'MTIzNDU2Nzg5MDEyMzQ1Njc4.GabCdE.abcdefghijklmnopqrstuvwxyz0123456789AB';

describe('parseEnv', () => {
  it('applies the documented defaults', () => {
    const result = parseEnv({ DISCORD_TOKEN: TOKEN });
    expect(result).toEqual({
      ok: true,
      env: {
        DISCORD_TOKEN: TOKEN,
        DISCORD_API_BASE: undefined,
        DEV_GUILD_ID: undefined,
        MODELS_DIR: './models',
        EMBEDDINGS_DIR: './embeddings',
        LORAS_DIR: './loras',
        DATA_DIR: './data',
        DEFAULT_MODEL: undefined,
        EXECUTION_PROVIDER: 'cpu',
        EXECUTION_DEVICE_ID: 0,
        CPU_THREADS: 0,
        EXECUTION_PROVIDER_FALLBACK: false,
        MODEL_MEMORY_BUDGET_MIB: 8192,
        LOG_LEVEL: 'info',
        WORKERS: 1,
        EXECUTION_DEVICE_IDS: undefined,
      },
    });
  });

  it('reads every key and treats empty values as unset', () => {
    const result = parseEnv({
      DISCORD_TOKEN: ` ${TOKEN} `,
      DISCORD_API_BASE: 'http://127.0.0.1:9000/api/',
      DEV_GUILD_ID: '123456789012345678',
      MODELS_DIR: '/models',
      EMBEDDINGS_DIR: '/emb',
      LORAS_DIR: '/loras',
      DATA_DIR: '',
      DEFAULT_MODEL: 'tiny',
      EXECUTION_PROVIDER: 'cuda',
      EXECUTION_DEVICE_ID: '1',
      CPU_THREADS: '',
      EXECUTION_PROVIDER_FALLBACK: 'cpu',
      MODEL_MEMORY_BUDGET_MIB: '2048',
      LOG_LEVEL: 'debug',
      WORKERS: '3',
      EXECUTION_DEVICE_IDS: ' 0, 2 ',
    });
    expect(result.ok && result.env).toEqual({
      DISCORD_TOKEN: TOKEN,
      DISCORD_API_BASE: 'http://127.0.0.1:9000/api',
      DEV_GUILD_ID: '123456789012345678',
      MODELS_DIR: '/models',
      EMBEDDINGS_DIR: '/emb',
      LORAS_DIR: '/loras',
      DATA_DIR: './data',
      DEFAULT_MODEL: 'tiny',
      EXECUTION_PROVIDER: 'cuda',
      EXECUTION_DEVICE_ID: 1,
      CPU_THREADS: 0,
      EXECUTION_PROVIDER_FALLBACK: true,
      MODEL_MEMORY_BUDGET_MIB: 2048,
      LOG_LEVEL: 'debug',
      WORKERS: 3,
      EXECUTION_DEVICE_IDS: [0, 2],
    });
  });

  it.each([
    [{ EXECUTION_PROVIDER: 'tpu' }, /EXECUTION_PROVIDER must be one of cpu, cuda, dml, coreml, webgpu/],
    [{ EXECUTION_DEVICE_ID: 'first' }, /EXECUTION_DEVICE_ID must be a GPU index/],
    [{ CPU_THREADS: '-2' }, /CPU_THREADS/],
    [{ MODEL_MEMORY_BUDGET_MIB: '10' }, /MODEL_MEMORY_BUDGET_MIB must be at least 64/],
    [{ EXECUTION_PROVIDER_FALLBACK: 'maybe' }, /EXECUTION_PROVIDER_FALLBACK/],
  ])('names the engine setting that is wrong: %o', (extra, message) => {
    const result = parseEnv({ DISCORD_TOKEN: TOKEN, ...extra });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues.join('\n')).toMatch(message);
  });

  it('says what to do when the token is missing', () => {
    const result = parseEnv({});
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues).toEqual([expect.stringMatching(/^DISCORD_TOKEN is missing: set it to the bot token/)]);
  });

  it('rejects a malformed token without echoing it', () => {
    const secret = 'Bot client-secret-value-1234567890';
    const result = parseEnv({ DISCORD_TOKEN: secret });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.issues.join('\n')).toMatch(/does not look like a bot token/);
      expect(result.issues.join('\n')).not.toContain('client-secret');
    }
  });

  it('names every bad key with the fix', () => {
    const result = parseEnv({
      DISCORD_TOKEN: TOKEN,
      DISCORD_API_BASE: 'http://127.0.0.1:9000/api/v10',
      DEV_GUILD_ID: 'my-guild',
      LOG_LEVEL: 'loud',
    });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.issues).toHaveLength(3);
      expect(result.issues.join('\n')).toMatch(/must not end in a version \(\/v10\)/);
      expect(result.issues.join('\n')).toMatch(/DEV_GUILD_ID must be a guild id/);
      expect(result.issues.join('\n')).toMatch(/LOG_LEVEL must be one of fatal, error/);
    }
  });
});

describe('local workers (WORKERS, EXECUTION_DEVICE_IDS)', () => {
  const workers = (extra: Record<string, string>) => {
    const result = parseEnv({ DISCORD_TOKEN: TOKEN, ...extra });
    if (!result.ok) throw new Error(result.issues.join('\n'));
    return localWorkersFromEnv(result.env);
  };

  it('runs one worker w0 on EXECUTION_DEVICE_ID by default', () => {
    expect(workers({})).toEqual([{ id: 'w0', deviceId: 0 }]);
    expect(workers({ EXECUTION_DEVICE_ID: '3' })).toEqual([{ id: 'w0', deviceId: 3 }]);
  });

  it('runs WORKERS workers on the same device, and none for 0', () => {
    expect(workers({ WORKERS: '3', EXECUTION_DEVICE_ID: '1' })).toEqual([
      { id: 'w0', deviceId: 1 },
      { id: 'w1', deviceId: 1 },
      { id: 'w2', deviceId: 1 },
    ]);
    expect(workers({ WORKERS: '0' })).toEqual([]);
    expect(workers({ WORKERS: '' })).toEqual([{ id: 'w0', deviceId: 0 }]);
  });

  it('runs one worker per listed GPU, overriding WORKERS and EXECUTION_DEVICE_ID', () => {
    expect(workers({ EXECUTION_DEVICE_IDS: '0,1,2,3', WORKERS: '1', EXECUTION_DEVICE_ID: '5' })).toEqual([
      { id: 'gpu0', deviceId: 0 },
      { id: 'gpu1', deviceId: 1 },
      { id: 'gpu2', deviceId: 2 },
      { id: 'gpu3', deviceId: 3 },
    ]);
    expect(workers({ EXECUTION_DEVICE_IDS: '1', WORKERS: '0' })).toEqual([{ id: 'gpu1', deviceId: 1 }]);
  });

  it.each([
    [{ WORKERS: 'two' }, 'WORKERS must be a whole number of local worker processes, e.g. 1 (0 runs none: jobs wait in the queue).'],
    [{ WORKERS: '1.5' }, 'WORKERS must be a whole number of local worker processes, e.g. 1 (0 runs none: jobs wait in the queue).'],
    [{ WORKERS: '-1' }, 'WORKERS must be 0 or more (0 runs no local worker: jobs wait in the queue).'],
    [{ WORKERS: '17' }, 'WORKERS must be at most 16; for one worker per GPU set EXECUTION_DEVICE_IDS (e.g. 0,1) instead.'],
    [{ EXECUTION_DEVICE_IDS: '0;1' }, 'EXECUTION_DEVICE_IDS must be GPU indexes separated by commas, e.g. 0,1 (one worker per GPU).'],
    [{ EXECUTION_DEVICE_IDS: 'cuda:0' }, 'EXECUTION_DEVICE_IDS must be GPU indexes separated by commas, e.g. 0,1 (one worker per GPU).'],
    [{ EXECUTION_DEVICE_IDS: '0,1,' }, 'EXECUTION_DEVICE_IDS must be GPU indexes separated by commas, e.g. 0,1 (one worker per GPU).'],
    [{ EXECUTION_DEVICE_IDS: '0,1,0' }, 'EXECUTION_DEVICE_IDS names a GPU twice; list each index once, e.g. 0,1.'],
  ])('says what to fix: %o', (extra, message) => {
    expect(parseEnv({ DISCORD_TOKEN: TOKEN, ...extra })).toEqual({ ok: false, issues: [message] });
  });
});

describe('parseEngineEnv', () => {
  it('reads the engine keys with their defaults and needs no Discord token', () => {
    const result = parseEngineEnv({});
    expect(result.ok).toBe(true);
    expect(result.ok && engineOptionsFromEnv(result.env)).toEqual({
      modelsDir: './models',
      embeddingsDir: './embeddings',
      lorasDir: './loras',
      executionProvider: 'cpu',
      deviceId: 0,
      threads: 0,
      allowCpuFallback: false,
      memoryBudgetMiB: 8192,
    });
    const set = parseEngineEnv({
      EXECUTION_PROVIDER: 'CUDA',
      EXECUTION_DEVICE_ID: '1',
      CPU_THREADS: '4',
      EXECUTION_PROVIDER_FALLBACK: 'cpu',
      MODELS_DIR: '/m',
    });
    expect(set.ok && engineOptionsFromEnv(set.env)).toEqual({
      modelsDir: '/m',
      embeddingsDir: './embeddings',
      lorasDir: './loras',
      executionProvider: 'cuda',
      deviceId: 1,
      threads: 4,
      allowCpuFallback: true,
      memoryBudgetMiB: 8192,
    });
  });

  it('names the bad key and the accepted values', () => {
    const provider = parseEngineEnv({ EXECUTION_PROVIDER: 'rocm' });
    expect(provider).toEqual({ ok: false, issues: ['EXECUTION_PROVIDER must be one of cpu, cuda, dml, coreml, webgpu.'] });
    const threads = parseEngineEnv({ CPU_THREADS: 'many' });
    expect(threads.ok).toBe(false);
    expect(!threads.ok && threads.issues[0]).toMatch(/^CPU_THREADS must be a whole number/);
    expect(parseEngineEnv({ EXECUTION_PROVIDER_FALLBACK: 'maybe' })).toEqual({
      ok: false,
      issues: ['EXECUTION_PROVIDER_FALLBACK must be cpu (fall back to the CPU) or none (fail fast).'],
    });
  });
});

describe('remote workers (REDIS_URL)', () => {
  it('makes the bot a coordinator only when REDIS_URL is set, and refuses a URL that is not redis://', () => {
    const plain = parseEnv({ DISCORD_TOKEN: TOKEN });
    expect(plain.ok && plain.env.REDIS_URL).toBeUndefined();
    expect(parseEnv({ DISCORD_TOKEN: TOKEN, REDIS_URL: ' redis://10.0.0.5:6379 ' })).toMatchObject({
      ok: true,
      env: { REDIS_URL: 'redis://10.0.0.5:6379' },
    });
    const bad = parseEnv({ DISCORD_TOKEN: TOKEN, REDIS_URL: 'http://10.0.0.5:6379' });
    expect(bad).toEqual({ ok: false, issues: [expect.stringMatching(/^REDIS_URL must be a redis:\/\/ .*URL such as redis:\/\/127\.0\.0\.1:6379/)] });
  });

  it('a worker host needs REDIS_URL and WORKER_ID, no Discord token, and says how to set them', () => {
    expect(parseRemoteWorkerEnv({ REDIS_URL: 'redis://r:6379', WORKER_ID: 'gpu-box-1', EXECUTION_DEVICE_IDS: '0,1' })).toMatchObject({
      ok: true,
      env: { REDIS_URL: 'redis://r:6379', WORKER_ID: 'gpu-box-1', EXECUTION_DEVICE_IDS: [0, 1], WORKERS: 1 },
    });
    const missing = parseRemoteWorkerEnv({});
    expect(missing.ok).toBe(false);
    expect(!missing.ok && missing.issues).toEqual([expect.stringContaining('REDIS_URL is missing'), expect.stringContaining('WORKER_ID is missing')]);
    expect(parseRemoteWorkerEnv({ REDIS_URL: 'redis://r', WORKER_ID: 'a:b' })).toEqual({
      ok: false,
      issues: [expect.stringContaining('WORKER_ID must be 1 to 48 letters')],
    });
  });
});
