/**
 * Deficit round robin (Shreedhar & Varghese, 1995) over guilds, and inside each guild over its users, weighted
 * by job cost. Pure data structure: no timers, no I/O, no clock.
 *
 * The quantum is the largest cost among queued jobs, so every visit to a flow can afford its head job: a
 * dequeue touches at most two flows per level (O(1)), and a guild that floods the queue delays a newly arrived
 * guild by at most one quantum (one job when the costs are alike). Deficits carry the remainder between
 * visits, which is what makes served cost, not job count, converge to equal shares.
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

interface Flow {
  deficit: number;
  prev: Flow | undefined;
  next: Flow | undefined;
}

interface UserFlow<T> extends Flow {
  readonly userId: string;
  readonly jobs: Map<string, T>;
}

interface GuildFlow<T> extends Flow {
  readonly guildId: string;
  readonly users: DeficitRing<UserFlow<T>>;
  readonly userFlows: Map<string, UserFlow<T>>;
  size: number;
}

/**
 * The active flows in visiting order, as an intrusive doubly linked list, plus whether the head's visit
 * (its quantum) has been granted. O(1) append, remove and rotate.
 */
class DeficitRing<F extends Flow> {
  head: F | undefined;
  tail: F | undefined;
  /** The head has received its quantum for the current visit. */
  granted = false;

  append(flow: F): void {
    flow.prev = this.tail;
    flow.next = undefined;
    if (this.tail) this.tail.next = flow;
    else this.head = flow;
    this.tail = flow;
  }

  remove(flow: F): void {
    if (flow === this.head) this.granted = false;
    if (flow.prev) flow.prev.next = flow.next;
    else this.head = flow.next as F | undefined;
    if (flow.next) flow.next.prev = flow.prev;
    else this.tail = flow.prev as F | undefined;
    flow.prev = flow.next = undefined;
    // DRR: a flow that goes idle forfeits its deficit, so idling can't bank credit.
    flow.deficit = 0;
  }

  /** The flow DRR serves next without changing anything; mirrors `select`. */
  peek(headCost: (flow: F) => number): F | undefined {
    const head = this.head;
    if (!head || !this.granted || head.deficit >= headCost(head)) return head;
    return (head.next as F | undefined) ?? head;
  }

  /**
   * The flow DRR serves next. Ends the head's visit when it cannot afford its head job (rotating it to the
   * tail) and grants the new head its quantum. Because `quantum` is at least every queued cost, a freshly
   * granted flow can always afford its head, so this never loops.
   */
  select(quantum: number, headCost: (flow: F) => number): F | undefined {
    let head = this.head;
    if (!head) return undefined;
    if (this.granted && head.deficit >= headCost(head)) return head;
    if (this.granted && head.next) {
      this.head = head.next as F;
      this.head.prev = undefined;
      head.next = undefined;
      head.prev = this.tail;
      this.tail!.next = head;
      this.tail = head;
      head = this.head;
    }
    head.deficit += quantum;
    this.granted = true;
    return head;
  }
}

export class FairQueue<T extends FairQueueItem> {
  readonly #guilds = new DeficitRing<GuildFlow<T>>();
  readonly #guildFlows = new Map<string, GuildFlow<T>>();
  readonly #items = new Map<string, T>();
  /** cost → how many queued jobs have it; the quantum is the largest key. */
  readonly #costCounts = new Map<number, number>();
  #maxCost = 0;

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
    return this.#guildFlows.get(guildId)?.size ?? 0;
  }

  countUser(guildId: string, userId: string): number {
    return this.#guildFlows.get(guildId)?.userFlows.get(userId)?.jobs.size ?? 0;
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
    let guild = this.#guildFlows.get(item.guildId);
    if (!guild) {
      guild = {
        guildId: item.guildId,
        users: new DeficitRing(),
        userFlows: new Map(),
        size: 0,
        deficit: 0,
        prev: undefined,
        next: undefined,
      };
      this.#guildFlows.set(item.guildId, guild);
      this.#guilds.append(guild);
    }
    let user = guild.userFlows.get(item.userId);
    if (!user) {
      user = { userId: item.userId, jobs: new Map(), deficit: 0, prev: undefined, next: undefined };
      guild.userFlows.set(item.userId, user);
      guild.users.append(user);
    }
    user.jobs.set(item.id, item);
    guild.size += 1;
    this.#items.set(item.id, item);
    this.#costCounts.set(item.cost, (this.#costCounts.get(item.cost) ?? 0) + 1);
    if (item.cost > this.#maxCost) this.#maxCost = item.cost;
  }

  /** The job that `dequeue` would return, without changing any state. */
  peek(): T | undefined {
    const guild = this.#guilds.peek(this.#guildHeadCost);
    if (!guild) return undefined;
    const user = guild.users.peek(userHeadCost);
    return user && firstJob(user);
  }

  /** Removes and returns the next job in fair order. */
  dequeue(): T | undefined {
    const quantum = this.#maxCost;
    const guild = this.#guilds.select(quantum, this.#guildHeadCost);
    if (!guild) return undefined;
    const user = guild.users.select(quantum, userHeadCost)!;
    const job = firstJob(user)!;
    guild.deficit -= job.cost;
    user.deficit -= job.cost;
    this.#detach(job, guild, user);
    return job;
  }

  /** Takes a queued job out (cancel). Returns it, or undefined when it is not queued. */
  remove(id: string): T | undefined {
    const job = this.#items.get(id);
    if (!job) return undefined;
    const guild = this.#guildFlows.get(job.guildId)!;
    this.#detach(job, guild, guild.userFlows.get(job.userId)!);
    return job;
  }

  /** Every queued job in the order `dequeue` would return them (O(n): it dequeues a copy). */
  order(): T[] {
    const copy = this.clone();
    const out: T[] = [];
    for (let job = copy.dequeue(); job; job = copy.dequeue()) out.push(job);
    return out;
  }

  /** An independent copy with the same DRR state (deficits, visit order, granted visits). */
  clone(): FairQueue<T> {
    const copy = new FairQueue<T>();
    for (let guild = this.#guilds.head; guild; guild = guild.next as GuildFlow<T> | undefined) {
      for (let user = guild.users.head; user; user = user.next as UserFlow<T> | undefined) {
        for (const job of user.jobs.values()) copy.enqueue(job);
        copy.#guildFlows.get(guild.guildId)!.userFlows.get(user.userId)!.deficit = user.deficit;
      }
      const copiedGuild = copy.#guildFlows.get(guild.guildId)!;
      copiedGuild.deficit = guild.deficit;
      copiedGuild.users.granted = guild.users.granted;
    }
    copy.#guilds.granted = this.#guilds.granted;
    return copy;
  }

  #detach(job: T, guild: GuildFlow<T>, user: UserFlow<T>): void {
    user.jobs.delete(job.id);
    guild.size -= 1;
    this.#items.delete(job.id);
    if (user.jobs.size === 0) {
      guild.users.remove(user);
      guild.userFlows.delete(user.userId);
    }
    if (guild.size === 0) {
      this.#guilds.remove(guild);
      this.#guildFlows.delete(guild.guildId);
    }
    const left = this.#costCounts.get(job.cost)! - 1;
    if (left > 0) {
      this.#costCounts.set(job.cost, left);
    } else {
      this.#costCounts.delete(job.cost);
      // Rare (the last job of the largest cost left): rescan the distinct costs, of which there are few.
      if (job.cost === this.#maxCost) this.#maxCost = Math.max(0, ...this.#costCounts.keys());
    }
  }

  readonly #guildHeadCost = (guild: GuildFlow<T>): number => firstJob(guild.users.peek(userHeadCost)!)!.cost;
}

function firstJob<T>(user: UserFlow<T>): T | undefined {
  return user.jobs.values().next().value;
}

function userHeadCost<T extends FairQueueItem>(user: UserFlow<T>): number {
  return firstJob(user)!.cost;
}
