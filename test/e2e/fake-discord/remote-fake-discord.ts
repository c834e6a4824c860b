import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Arrivals, ScheduleLateness } from './arrivals.js';
import type { FakeGuild, FakeUser } from './fake-discord.js';

/** One slash command of a burst, dispatched by the fake's process. */
export interface RemoteBurstCommand {
  name: string;
  guildIndex: number;
  user: FakeUser;
  options: any[];
}

/** What the fake's process saw; times are epoch ms (performance.timeOrigin + performance.now()). */
export interface RemoteReport {
  interactions: { id: string; dispatchedAt: number; ackAt?: number; callbackType?: number }[];
  requests: { route: string; status: number; at: number }[];
}

export type ToFakeProcess =
  | { type: 'start'; botToken: string; guilds: FakeGuild[] }
  | { type: 'prepare'; commands: RemoteBurstCommand[]; arrivals: Arrivals }
  | { type: 'burst' }
  | { type: 'report' }
  | { type: 'stop' };

export type FromFakeProcess =
  | { type: 'started'; apiBase: string }
  | { type: 'prepared' }
  | { type: 'dispatched'; ids: string[]; lateness: ScheduleLateness }
  | { type: 'acked' }
  | { type: 'finals' }
  | { type: 'report'; report: RemoteReport }
  | { type: 'error'; message: string };

/**
 * A FakeDiscord in a child process (fake-discord-process.ts), for benchmarks: the bot's process then holds only the
 * bot, and the fake timestamps requests with its own event loop. It speaks a handful of coarse messages (start, one
 * burst, "all acknowledged", "all finals", a report at the end), so the IPC adds next to nothing to the bot's loop.
 */
export class RemoteFakeDiscord {
  readonly #child: ChildProcess;
  readonly #seen: FromFakeProcess[] = [];
  readonly #waiters = new Set<() => void>();
  #apiBase = '';

  constructor() {
    this.#child = fork(fileURLToPath(new URL('./fake-discord-process.js', import.meta.url)), [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#child.on('message', (message: FromFakeProcess) => {
      this.#seen.push(message);
      for (const wake of this.#waiters) wake();
    });
  }

  get apiBase(): string {
    return this.#apiBase;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  async start(botToken: string, guilds: FakeGuild[]): Promise<void> {
    this.#child.send({ type: 'start', botToken, guilds } satisfies ToFakeProcess);
    this.#apiBase = (await this.#next('started')).apiBase;
  }

  /** Sends the commands from the fake's process (a new burst replaces the last in `acked`, `finals` and `report`), `perTurn` per event-loop turn there; resolves with their ids. */
  async burst(commands: RemoteBurstCommand[], perTurn = 10): Promise<string[]> {
    return (await this.dispatch(commands, { kind: 'burst', perTurn })).ids;
  }

  /**
   * Sends the commands from the fake's process on the schedule `arrivals` gives (a burst, or a Poisson process at a
   * rate, timed by the fake's own clock); a new batch replaces the last in `acked`, `finals` and `report`. Resolves
   * once all were dispatched, with their ids and how late the fake dispatched them against the schedule.
   */
  async dispatch(commands: RemoteBurstCommand[], arrivals: Arrivals): Promise<{ ids: string[]; lateness: ScheduleLateness }> {
    // The commands travel first, so serializing them is not part of the burst on either side.
    this.#child.send({ type: 'prepare', commands, arrivals } satisfies ToFakeProcess);
    await this.#next('prepared');
    this.#child.send({ type: 'burst' } satisfies ToFakeProcess);
    const { ids, lateness } = await this.#next('dispatched');
    return { ids, lateness };
  }

  /** Every interaction of the burst was dispatched and acknowledged. */
  async acked(): Promise<void> {
    await this.#next('acked');
  }

  /** Every interaction of the burst has its final PNG. */
  async finals(): Promise<void> {
    await this.#next('finals');
  }

  async report(): Promise<RemoteReport> {
    this.#child.send({ type: 'report' } satisfies ToFakeProcess);
    return (await this.#next('report')).report;
  }

  async stop(): Promise<void> {
    if (!this.#child.connected) return;
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#child.send({ type: 'stop' } satisfies ToFakeProcess);
    await exited;
  }

  #next<T extends FromFakeProcess['type']>(type: T): Promise<Extract<FromFakeProcess, { type: T }>> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const error = this.#seen.find((m) => m.type === 'error');
        if (error) return done(() => reject(new Error(`fake Discord process: ${(error as { message: string }).message}`)));
        const index = this.#seen.findIndex((m) => m.type === type);
        if (index >= 0) done(() => resolve(this.#seen.splice(index, 1)[0] as Extract<FromFakeProcess, { type: T }>));
      };
      const onExit = () => done(() => reject(new Error(`fake Discord process exited while waiting for '${type}'`)));
      const done = (settle: () => void) => {
        this.#waiters.delete(check);
        this.#child.off('exit', onExit);
        settle();
      };
      this.#waiters.add(check);
      this.#child.once('exit', onExit);
      check();
    });
  }
}
