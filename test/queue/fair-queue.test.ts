import { describe, expect, it } from 'vitest';
import { FairQueue, type FairQueueItem } from '../../src/queue/fair-queue.js';

let counter = 0;
function job(guildId: string, userId = `${guildId}-user`, cost = 100): FairQueueItem {
  counter += 1;
  return { id: `${guildId}/${userId}/${counter}`, guildId, userId, cost };
}

function drain(queue: FairQueue<FairQueueItem>): FairQueueItem[] {
  const out: FairQueueItem[] = [];
  for (let item = queue.dequeue(); item; item = queue.dequeue()) out.push(item);
  return out;
}

/** Jain's fairness index: 1 when every share is equal, 1/n when one flow gets everything. */
function jain(values: number[]): number {
  const sum = values.reduce((a, b) => a + b, 0);
  const squares = values.reduce((a, b) => a + b * b, 0);
  return (sum * sum) / (values.length * squares);
}

describe('FairQueue', () => {
  it('dequeues round-robin across guilds', () => {
    const queue = new FairQueue();
    for (const guild of ['a', 'a', 'a', 'b', 'b', 'c']) queue.enqueue(job(guild));
    expect(drain(queue).map((item) => item.guildId)).toEqual(['a', 'b', 'c', 'a', 'b', 'a']);
  });

  it('starts each of five single-job guilds within the first six dispatches while one guild floods the queue', () => {
    const queue = new FairQueue();
    for (let i = 0; i < 50; i += 1) queue.enqueue(job('flood'));
    const first = queue.dequeue()!;
    expect(first.guildId).toBe('flood');
    // The five arrive while the flood's first job is already running.
    for (const guild of ['g1', 'g2', 'g3', 'g4', 'g5']) queue.enqueue(job(guild));
    const order = [first, ...drain(queue)].map((item) => item.guildId);
    for (const guild of ['g1', 'g2', 'g3', 'g4', 'g5']) expect(order.indexOf(guild)).toBeLessThan(6);
    expect(order).toHaveLength(55);
  });

  it('lets a newcomer wait for at most one job of a flooding guild', () => {
    const queue = new FairQueue();
    for (let i = 0; i < 20; i += 1) queue.enqueue(job('flood'));
    for (let i = 0; i < 7; i += 1) queue.dequeue();
    queue.enqueue(job('late'));
    const next = [queue.dequeue()!, queue.dequeue()!].map((item) => item.guildId);
    expect(next).toContain('late');
  });

  it('shares served cost equally among backlogged guilds with different job costs (Jain >= 0.99)', () => {
    const queue = new FairQueue();
    const costs: Record<string, number> = { small: 10, medium: 35, large: 100, mixed: 0 };
    for (let i = 0; i < 400; i += 1) {
      queue.enqueue(job('small', 'u', costs.small));
      queue.enqueue(job('medium', 'u', costs.medium));
      queue.enqueue(job('large', 'u', costs.large));
      queue.enqueue(job('mixed', `u${i % 3}`, [5, 60, 90][i % 3]!));
    }
    const served: Record<string, number> = { small: 0, medium: 0, large: 0, mixed: 0 };
    // Stop well before any guild runs dry: the index is defined over backlogged guilds.
    for (let i = 0; i < 600; i += 1) {
      const item = queue.dequeue()!;
      served[item.guildId]! += item.cost;
    }
    for (const guild of Object.keys(served)) expect(queue.countGuild(guild)).toBeGreaterThan(0);
    const index = jain(Object.values(served));
    expect(index).toBeGreaterThanOrEqual(0.99);
    // By job count it is deliberately unequal: the cheap guild gets many more jobs.
    expect(served.small! / costs.small!).toBeGreaterThan((served.large! / costs.large!) * 5);
  });

  it('round-robins between users inside a guild', () => {
    const queue = new FairQueue();
    for (const user of ['ann', 'ann', 'ann', 'bob', 'cat']) queue.enqueue(job('g', user));
    expect(drain(queue).map((item) => item.userId)).toEqual(['ann', 'bob', 'cat', 'ann', 'ann']);
  });

  it('splits a guild share between its users by cost while guilds stay equal', () => {
    const queue = new FairQueue();
    for (let i = 0; i < 100; i += 1) {
      queue.enqueue(job('g', 'heavy', 40));
      queue.enqueue(job('g', 'light', 10));
      queue.enqueue(job('other', 'solo', 25));
    }
    const served = new Map<string, number>();
    for (let i = 0; i < 120; i += 1) {
      const item = queue.dequeue()!;
      served.set(item.userId, (served.get(item.userId) ?? 0) + item.cost);
    }
    const g = served.get('heavy')! + served.get('light')!;
    expect(jain([g, served.get('solo')!])).toBeGreaterThanOrEqual(0.99);
    expect(jain([served.get('heavy')!, served.get('light')!])).toBeGreaterThanOrEqual(0.99);
  });

  it('keeps each user FIFO', () => {
    const queue = new FairQueue();
    const items = [job('g', 'u'), job('g', 'u'), job('g', 'u')];
    for (const item of items) queue.enqueue(item);
    expect(drain(queue)).toEqual(items);
  });

  it('removes a queued job and keeps the rest in order', () => {
    const queue = new FairQueue();
    const a1 = job('a');
    const a2 = job('a');
    const b1 = job('b');
    for (const item of [a1, a2, b1]) queue.enqueue(item);
    expect(queue.remove(b1.id)).toBe(b1);
    expect(queue.remove(b1.id)).toBeUndefined();
    expect(queue.has(b1.id)).toBe(false);
    expect(queue.countGuild('b')).toBe(0);
    expect(drain(queue)).toEqual([a1, a2]);
    expect(queue.size).toBe(0);
  });

  it('forgets a guild deficit once it runs dry, so idling banks no credit', () => {
    const queue = new FairQueue();
    queue.enqueue(job('a', 'u', 10));
    queue.enqueue(job('b', 'u', 100));
    queue.dequeue(); // a, with deficit 90 left over, then a goes idle
    queue.enqueue(job('a', 'u', 10));
    queue.enqueue(job('a', 'u', 10));
    // b is next in the ring; a's old 90 must not let it jump ahead with two jobs.
    expect(drain(queue).map((item) => item.guildId)).toEqual(['b', 'a', 'a']);
  });

  it('lists the dispatch order without changing it', () => {
    const queue = new FairQueue();
    for (const guild of ['a', 'a', 'b', 'c', 'c', 'c']) queue.enqueue(job(guild, 'u', guild === 'b' ? 50 : 100));
    queue.dequeue();
    const order = queue.order();
    expect(queue.peek()).toBe(order[0]);
    expect(drain(queue)).toEqual(order);
  });

  it('counts queued jobs per user and guild against the caps and names the cap hit', () => {
    const queue = new FairQueue();
    const limits = { maxQueuedPerUser: 2, maxQueuedPerGuild: 3, maxQueuedTotal: 5 };
    queue.enqueue(job('g', 'ann'));
    expect(queue.exceededLimit({ guildId: 'g', userId: 'ann' }, limits)).toBeUndefined();
    queue.enqueue(job('g', 'ann'));
    expect(queue.exceededLimit({ guildId: 'g', userId: 'ann' }, limits)).toEqual({ limit: 'maxQueuedPerUser', max: 2 });
    expect(queue.exceededLimit({ guildId: 'g', userId: 'bob' }, limits)).toBeUndefined();
    // The running job counts too when the caller passes it.
    expect(queue.exceededLimit({ guildId: 'g', userId: 'bob' }, limits, [{ guildId: 'g', userId: 'cat' }])).toEqual({
      limit: 'maxQueuedPerGuild',
      max: 3,
    });
    queue.enqueue(job('h', 'x'));
    queue.enqueue(job('i', 'y'));
    queue.enqueue(job('j', 'z'));
    expect(queue.exceededLimit({ guildId: 'k', userId: 'new' }, limits)).toEqual({ limit: 'maxQueuedTotal', max: 5 });
  });

  it('rejects duplicate ids and non-positive costs with a TypeError', () => {
    const queue = new FairQueue();
    const item = job('g');
    queue.enqueue(item);
    expect(() => queue.enqueue(item)).toThrow(TypeError);
    expect(() => queue.enqueue({ ...job('g'), cost: 0 })).toThrow('Expected `cost` to be a positive finite number, got `0` (number)');
    expect(() => queue.enqueue({ ...job('g'), cost: Number.NaN })).toThrow(TypeError);
  });

  it('matches a plain-array reference DRR under random enqueues, removals and dequeues', () => {
    // The same policy written with arrays and splices, to catch slips in the linked-list bookkeeping.
    interface RefFlow { id: string; deficit: number }
    interface RefUser extends RefFlow { jobs: FairQueueItem[] }
    interface RefGuild extends RefFlow { users: RefUser[]; granted: boolean }
    const reference = {
      guilds: [] as RefGuild[],
      granted: false,
      enqueue(item: FairQueueItem) {
        let guild = this.guilds.find((g) => g.id === item.guildId);
        if (!guild) this.guilds.push((guild = { id: item.guildId, deficit: 0, users: [], granted: false }));
        let user = guild.users.find((u) => u.id === item.userId);
        if (!user) guild.users.push((user = { id: item.userId, deficit: 0, jobs: [] }));
        user.jobs.push(item);
      },
      remove(item: FairQueueItem) {
        const gi = this.guilds.findIndex((g) => g.id === item.guildId);
        const guild = this.guilds[gi]!;
        const ui = guild.users.findIndex((u) => u.id === item.userId);
        const user = guild.users[ui]!;
        user.jobs.splice(user.jobs.indexOf(item), 1);
        if (user.jobs.length === 0) {
          if (ui === 0) guild.granted = false;
          guild.users.splice(ui, 1);
        }
        if (guild.users.length === 0) {
          if (gi === 0) this.granted = false;
          this.guilds.splice(gi, 1);
        }
      },
      select<F extends RefFlow>(ring: F[], granted: boolean, quantum: number, cost: (f: F) => number): [F, boolean] {
        if (granted && ring[0]!.deficit >= cost(ring[0]!)) return [ring[0]!, true];
        if (granted && ring.length > 1) ring.push(ring.shift()!);
        ring[0]!.deficit += quantum;
        return [ring[0]!, true];
      },
      userPeek(guild: RefGuild): RefUser {
        const head = guild.users[0]!;
        if (!guild.granted || head.deficit >= head.jobs[0]!.cost) return head;
        return guild.users[1] ?? head;
      },
      dequeue(): FairQueueItem | undefined {
        if (this.guilds.length === 0) return undefined;
        const quantum = Math.max(...this.guilds.flatMap((g) => g.users.flatMap((u) => u.jobs.map((j) => j.cost))));
        const [guild, g] = this.select(this.guilds, this.granted, quantum, (gf) => this.userPeek(gf).jobs[0]!.cost);
        this.granted = g;
        const [user, u] = this.select(guild.users, guild.granted, quantum, (uf) => uf.jobs[0]!.cost);
        guild.granted = u;
        const item = user.jobs[0]!;
        guild.deficit -= item.cost;
        user.deficit -= item.cost;
        this.remove(item);
        if (!this.guilds.includes(guild)) guild.deficit = 0;
        if (!guild.users.includes(user)) user.deficit = 0;
        return item;
      },
    };
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const queue = new FairQueue();
    const live: FairQueueItem[] = [];
    let dequeued = 0;
    for (let step = 0; step < 3000; step += 1) {
      const roll = random();
      if (roll < 0.55) {
        const item = job(`g${Math.floor(random() * 6)}`, `u${Math.floor(random() * 3)}`, [10, 20, 50, 80][Math.floor(random() * 4)]!);
        queue.enqueue(item);
        reference.enqueue(item);
        live.push(item);
      } else if (roll < 0.65 && live.length > 0) {
        const victim = live.splice(Math.floor(random() * live.length), 1)[0]!;
        expect(queue.remove(victim.id)).toBe(victim);
        reference.remove(victim);
      } else {
        const peeked = queue.peek();
        const item = queue.dequeue();
        expect(item).toBe(reference.dequeue());
        expect(item).toBe(peeked);
        if (item) {
          live.splice(live.indexOf(item), 1);
          dequeued += 1;
        }
      }
      expect(queue.size).toBe(live.length);
    }
    expect(dequeued).toBeGreaterThan(500);
  });
});
