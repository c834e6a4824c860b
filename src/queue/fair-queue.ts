/**
 * Hierarchical start-time fair queueing over guilds, and inside each guild over its users, weighted by job cost.
 * Pure data structure: no timers, no I/O, no clock.
 *
 * Algorithm: SFQ (Goyal, Vin & Cheng, "Start-time Fair Queueing: A Scheduling Algorithm for Integrated Services
 * Packet Switching Networks", SIGCOMM 1996), run at two levels as in H-SFQ (Goyal, Guo & Vin, "A Hierarchical
 * CPU Scheduler for Multimedia Operating Systems", OSDI 1996): the root schedules guilds, each guild schedules its
 * users, all weights equal. At each level ("flow" = a guild at the root, a user inside a guild):
 *
 *   - a backlogged flow carries the start tag S of its head job; the level's virtual time v is the start tag of
 *     the job it dispatched last (the one in service);
 *   - a flow that becomes backlogged gets S = max(v, F), F being the finish tag of its last dispatched job
 *     (a flow never seen, or one with F <= v, simply gets S = v; a guild like that also starts afresh inside);
 *   - dispatch takes the flow with the smallest S (ties: the tag handed out first), sets v = S and F = S + cost,
 *     and a flow that is still backlogged continues at S = F.
 *
 * Why not deficit round robin (what this file used to be, Shreedhar & Varghese 1995): DRR bounds a newcomer's
 * wait by one quantum (the largest cost), so a flooding guild with cheap jobs could run up to max/min of them
 * (16 with the 1×–16× costs of real requests) ahead of a newly arrived guild. SFQ bounds it by one job:
 *
 *   - Newcomer bound. A newly backlogged flow (F <= v) gets S = v. Every other backlogged flow has S >= v, and the
 *     flow whose job is in service has S = v + its cost > v, so the newcomer goes before any further job of the
 *     flow in service, whatever the costs. It can only wait for flows that already held the tag v (tagged
 *     earlier): one job each. With one flooding guild that is exactly "the job in service and nothing else"; with
 *     N workers the dispatcher keeps N jobs in service (one each), so "the N jobs in service" (docs/scaling.md).
 *   - No banked credit, no line jumping. A flow that was dispatched recently (F > v) and comes back continues at
 *     S = F: going idle for a moment neither earns credit nor, the other way round, lets a user resubmit the
 *     moment its job starts and be served again ahead of everyone (DRR sent such a flow to the tail with no
 *     deficit, which under-served it instead). So the one-job bound is for a guild that has had its turn; one
 *     whose last dispatched job ended past v waits until the others have caught up with that job's cost.
 *   - Fairness. Two flows backlogged over an interval are served costs that differ by at most the sum of their
 *     largest job costs (SFQ's fairness theorem). Tighter here: while a flow stays backlogged its tags are
 *     contiguous, so what it has been served is its current S minus the S it started at, and v <= S <= v + its
 *     largest cost. Served cost, not job count, converges to equal shares.
 *
 * A guild's tags are charged the cost of whichever of its users' jobs it dispatches, so the levels are
 * independent: users split their guild's share, guilds split the worker. Tags are kept per flow (for its head
 * job), not per job, so a cancelled job is never charged: the next job inherits its start tag.
 *
 * Cost: a binary min-heap of backlogged flows per level, so enqueue, dequeue and remove are O(log guilds +
 * log users in the guild); peek is O(1). Idle flows are remembered only while F > v (after that they are
 * equivalent to new ones) and swept out in amortised O(1). Tags are sums of costs; a level shifts all its tags
 * down when v passes 2^50 so that integer costs stay exact in doubles (ties, and so the order, stay exact).
 */

/** What the queue needs to know about a job. */
export interface FairQueueItem {
  readonly id: string;
  readonly guildId: string;
  readonly userId: string;
  /** steps × width × height × count (see jobCost); must be a positive finite number. */
  readonly cost: number;
}

/** Caps, counted over the jobs in this queue plus whatever `extra` the caller adds (running jobs). */
export interface FairQueueLimits {
  maxQueuedPerUser: number;
  maxQueuedPerGuild: number;
  maxQueuedTotal: number;
}

/** Which cap an enqueue would break, and the number. */
export interface LimitExceeded {
  limit: keyof FairQueueLimits;
  max: number;
}

/** Above this virtual time a level rebases its tags, keeping sums of integer costs exact (< 2^53). */
const REBASE_AT = 2 ** 50;
/** Idle flows remembered before the first sweep; afterwards twice what the last sweep kept. */
const MIN_SWEEP = 64;

interface Flow {
  readonly key: string;
  /** Start tag of the head job, while backlogged. */
  start: number;
  /** Finish tag of the last dispatched job: the earliest start tag the flow can have next. */
  finish: number;
  /** Tie-break between equal start tags: when the tag was handed out. */
  seq: number;
  /** Position in the level's heap; -1 while idle. */
  heapIndex: number;
}

interface UserFlow<T> extends Flow {
  readonly jobs: Map<string, T>;
}

interface GuildFlow<T> extends Flow {
  readonly users: SfqLevel<UserFlow<T>>;
  size: number;
}

function before(a: Flow, b: Flow): boolean {
  return a.start < b.start || (a.start === b.start && a.seq < b.seq);
}

/**
 * One SFQ scheduler: the flows it knows (backlogged, and idle ones still remembered) and a binary min-heap of the
 * backlogged ones by (start tag, seq).
 */
class SfqLevel<F extends Flow> {
  readonly flows = new Map<string, F>();
  readonly heap: F[] = [];
  /** Virtual time: the start tag of the flow dispatched last. */
  vtime = 0;
  seq = 0;
  /** How many flows in `flows` are idle (not in the heap). */
  idle = 0;
  sweepAt = MIN_SWEEP;

  /** The flow SFQ dispatches next. */
  get top(): F | undefined {
    return this.heap[0];
  }

  /** `flow` (new, or idle and remembered) has a job again: tag it S = max(v, F). */
  activate(flow: F): void {
    if (this.flows.get(flow.key) === flow) this.idle -= 1;
    else this.flows.set(flow.key, flow);
    flow.start = Math.max(this.vtime, flow.finish);
    flow.seq = this.seq++;
    flow.heapIndex = this.heap.length;
    this.heap.push(flow);
    this.#up(flow.heapIndex);
  }

  /**
   * `flow` (the top) had a job of `cost` dispatched: v = S, F = S + cost, and it continues at S = F while
   * `backlogged`, otherwise goes idle.
   */
  charge(flow: F, cost: number, backlogged: boolean): void {
    this.vtime = flow.start;
    flow.finish = flow.start + cost;
    if (backlogged) {
      flow.start = flow.finish;
      flow.seq = this.seq++;
      // Its key only grew.
      this.#down(flow.heapIndex);
    } else {
      this.deactivate(flow);
    }
    if (this.vtime > REBASE_AT) this.#rebase();
  }

  /** `flow` ran out of jobs (dispatched or cancelled). Its finish tag is remembered while it is ahead of v. */
  deactivate(flow: F): void {
    const index = flow.heapIndex;
    const last = this.heap.pop()!;
    if (last !== flow) {
      this.heap[index] = last;
      last.heapIndex = index;
      this.#down(index);
      this.#up(last.heapIndex);
    }
    flow.heapIndex = -1;
    if (flow.finish <= this.vtime) {
      this.flows.delete(flow.key);
      return;
    }
    this.idle += 1;
    if (this.idle >= this.sweepAt) {
      // Idle flows at or behind v would get S = v anyway: forget them. Amortised O(1) per deactivation.
      for (const [key, other] of this.flows) {
        if (other.heapIndex < 0 && other.finish <= this.vtime) {
          this.flows.delete(key);
          this.idle -= 1;
        }
      }
      this.sweepAt = Math.max(MIN_SWEEP, 2 * this.idle);
    }
  }

  /** Drops an idle remembered flow (it comes back as a new one). */
  forget(flow: F): void {
    this.flows.delete(flow.key);
    this.idle -= 1;
  }

  /** Copies the level, with `copyFlow` copying each flow (heap positions and tags included). */
  copyInto(copy: SfqLevel<F>, copyFlow: (flow: F) => F): void {
    copy.vtime = this.vtime;
    copy.seq = this.seq;
    copy.idle = this.idle;
    copy.sweepAt = this.sweepAt;
    for (const flow of this.flows.values()) {
      const copied = copyFlow(flow);
      copy.flows.set(copied.key, copied);
      if (copied.heapIndex >= 0) copy.heap[copied.heapIndex] = copied;
    }
  }

  /** Shifts every tag down by v (uniformly, so no comparison changes). O(flows), once per 2^50 of cost. */
  #rebase(): void {
    const shift = this.vtime;
    for (const flow of this.flows.values()) {
      flow.start -= shift;
      flow.finish -= shift;
    }
    this.vtime = 0;
  }

  #up(index: number): void {
    const heap = this.heap;
    const flow = heap[index]!;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex]!;
      if (!before(flow, parent)) break;
      heap[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    heap[index] = flow;
    flow.heapIndex = index;
  }

  #down(index: number): void {
    const heap = this.heap;
    const length = heap.length;
    if (index >= length) return;
    const flow = heap[index]!;
    for (;;) {
      let child = 2 * index + 1;
      if (child >= length) break;
      if (child + 1 < length && before(heap[child + 1]!, heap[child]!)) child += 1;
      if (!before(heap[child]!, flow)) break;
      heap[index] = heap[child]!;
      heap[index]!.heapIndex = index;
      index = child;
    }
    heap[index] = flow;
    flow.heapIndex = index;
  }
}

export class FairQueue<T extends FairQueueItem> {
  readonly #guilds = new SfqLevel<GuildFlow<T>>();
  readonly #items = new Map<string, T>();

  get size(): number {
    return this.#items.size;
  }

  has(id: string): boolean {
    return this.#items.has(id);
  }

  get(id: string): T | undefined {
    return this.#items.get(id);
  }

  countGuild(guildId: string): number {
    return this.#guilds.flows.get(guildId)?.size ?? 0;
  }

  countUser(guildId: string, userId: string): number {
    return this.#guilds.flows.get(guildId)?.users.flows.get(userId)?.jobs.size ?? 0;
  }

  /**
   * The first cap that enqueueing `item` would break, or undefined. `extra` lists jobs outside the queue that
   * count too (the running ones).
   */
  exceededLimit(
    item: Pick<FairQueueItem, 'guildId' | 'userId'>,
    limits: FairQueueLimits,
    extra: ReadonlyArray<Pick<FairQueueItem, 'guildId' | 'userId'>> = [],
  ): LimitExceeded | undefined {
    const sameGuild = extra.filter((other) => other.guildId === item.guildId);
    const sameUser = sameGuild.filter((other) => other.userId === item.userId);
    if (this.countUser(item.guildId, item.userId) + sameUser.length >= limits.maxQueuedPerUser) {
      return { limit: 'maxQueuedPerUser', max: limits.maxQueuedPerUser };
    }
    if (this.countGuild(item.guildId) + sameGuild.length >= limits.maxQueuedPerGuild) {
      return { limit: 'maxQueuedPerGuild', max: limits.maxQueuedPerGuild };
    }
    if (this.size + extra.length >= limits.maxQueuedTotal) {
      return { limit: 'maxQueuedTotal', max: limits.maxQueuedTotal };
    }
    return undefined;
  }

  /** Adds a job behind its user's earlier jobs. Caps are the caller's business (`exceededLimit`). */
  enqueue(item: T): void {
    if (this.#items.has(item.id)) throw new TypeError(`Expected a new job id, got \`${item.id}\` twice`);
    if (!(Number.isFinite(item.cost) && item.cost > 0)) {
      throw new TypeError(`Expected \`cost\` to be a positive finite number, got \`${item.cost}\` (${typeof item.cost})`);
    }
    let guild = this.#guilds.flows.get(item.guildId);
    // A guild coming back at or behind v is a new guild (S = v), and starts over inside too: its users' tags
    // are forgotten with it. This makes the order independent of when idle flows are swept.
    if (guild && guild.size === 0 && guild.finish <= this.#guilds.vtime) {
      this.#guilds.forget(guild);
      guild = undefined;
    }
    if (!guild) {
      guild = { key: item.guildId, users: new SfqLevel(), size: 0, start: 0, finish: 0, seq: 0, heapIndex: -1 };
    }
    if (guild.size === 0) this.#guilds.activate(guild);
    let user = guild.users.flows.get(item.userId);
    if (!user) user = { key: item.userId, jobs: new Map(), start: 0, finish: 0, seq: 0, heapIndex: -1 };
    if (user.jobs.size === 0) guild.users.activate(user);
    user.jobs.set(item.id, item);
    guild.size += 1;
    this.#items.set(item.id, item);
  }

  /** The job that `dequeue` would return, without changing any state. O(1). */
  peek(): T | undefined {
    const user = this.#guilds.top?.users.top;
    return user && firstJob(user);
  }

  /** Removes and returns the next job in fair order. */
  dequeue(): T | undefined {
    const guild = this.#guilds.top;
    if (!guild) return undefined;
    const user = guild.users.top!;
    const job = firstJob(user)!;
    user.jobs.delete(job.id);
    guild.size -= 1;
    this.#items.delete(job.id);
    guild.users.charge(user, job.cost, user.jobs.size > 0);
    this.#guilds.charge(guild, job.cost, guild.size > 0);
    return job;
  }

  /**
   * Takes a queued job out (cancel). Returns it, or undefined when it is not queued. Nothing is charged: if it
   * was its user's head job, the next one inherits the start tag.
   */
  remove(id: string): T | undefined {
    const job = this.#items.get(id);
    if (!job) return undefined;
    const guild = this.#guilds.flows.get(job.guildId)!;
    const user = guild.users.flows.get(job.userId)!;
    user.jobs.delete(id);
    guild.size -= 1;
    this.#items.delete(id);
    if (user.jobs.size === 0) guild.users.deactivate(user);
    if (guild.size === 0) this.#guilds.deactivate(guild);
    return job;
  }

  /** Every queued job in the order `dequeue` would return them (O(n log n): it dequeues a copy). */
  order(): T[] {
    const copy = this.clone();
    const out: T[] = [];
    for (let job = copy.dequeue(); job; job = copy.dequeue()) out.push(job);
    return out;
  }

  /** An independent copy with the same scheduling state (tags, virtual times, remembered idle flows). */
  clone(): FairQueue<T> {
    const copy = new FairQueue<T>();
    for (const [id, item] of this.#items) copy.#items.set(id, item);
    this.#guilds.copyInto(copy.#guilds, (guild) => {
      const users = new SfqLevel<UserFlow<T>>();
      guild.users.copyInto(users, (user) => ({ ...user, jobs: new Map(user.jobs) }));
      return { ...guild, users };
    });
    return copy;
  }
}

function firstJob<T>(user: UserFlow<T>): T | undefined {
  return user.jobs.values().next().value;
}
