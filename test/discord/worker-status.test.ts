import { describe, expect, it } from 'vitest';
import { statusLine } from '../../src/discord/commands/help.js';
import { workersLine } from '../../src/discord/commands/queue.js';

describe('worker status lines', () => {
  it('lists each worker with its state and warm models, and counts them in /help', () => {
    const workers = [
      { id: 'gpu0', state: 'busy' as const, jobId: 'j1', models: ['anime', 'photo'] },
      { id: 'gpu1', state: 'idle' as const, jobId: undefined, models: [] },
      { id: 'gpu2', state: 'starting' as const, jobId: undefined, models: [] },
    ];
    expect(workersLine(workers)).toBe('Workers: `gpu0` busy (anime, photo) · `gpu1` idle · `gpu2` starting');
    expect(statusLine('cuda', ['anime', 'photo'], 'anime', workers)).toBe(
      '_Status: images run on **cuda** with 3 workers, 2 ready, the others starting; models: anime (default), photo._',
    );
    expect(statusLine('cuda', ['anime'], undefined, workers.slice(0, 2))).toBe('_Status: images run on **cuda** with 2 workers; models: anime._');
    expect(statusLine('cpu', ['tiny'], 'tiny', [workers[1]!])).toBe('_Status: images run on **cpu** with 1 worker; models: tiny (default)._');
    expect(statusLine(undefined, ['tiny'], 'tiny', [workers[2]!, workers[2]!])).toBe('_Status: the 2 workers are starting._');
  });
});
