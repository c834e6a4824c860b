import { describe, expect, it } from 'vitest';
import { FairQueue, type FairQueueItem } from '../../src/queue/fair-queue.js';
import { mulberry32 } from '../fixtures/prng.js';

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

  it('gives a guild that runs dry no banked credit when it comes back', () => {
    const queue = new FairQueue();
    queue.enqueue(job('a', 'u', 10));
    queue.enqueue(job('b', 'u', 100));
    queue.dequeue(); // a, with deficit 90 left over, then a goes idle
    queue.enqueue(job('a', 'u', 10));
    queue.enqueue(job('a', 'u', 10));
    // a's first job finished at tag 10, so it comes back at 10, behind b (tag 0): its spare 90 is not credit.
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

  it('clones the whole scheduling state: a copy and the original agree under further traffic', () => {
    const random = mulberry32(31);
    const traffic = (queues: FairQueue<FairQueueItem>[], steps: number) => {
      for (let step = 0; step < steps; step += 1) {
        if (random() < 0.5) {
          const item = job(`g${Math.floor(random() * 6)}`, `u${Math.floor(random() * 3)}`, 1 + Math.floor(random() * 16));
          for (const queue of queues) queue.enqueue(item);
        } else {
          const out = queues.map((queue) => queue.dequeue());
          for (const item of out) expect(item).toBe(out[0]);
        }
      }
    };
    const queue = new FairQueue();
    traffic([queue], 300);
    drain(queue);
    // Guilds and users that just went idle are remembered, and the virtual times have moved: all of it is copied.
    const copy = queue.clone();
    traffic([queue, copy], 2000);
    expect(copy.order()).toEqual(queue.order());
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

  it('matches a plain-array reference SFQ under random enqueues, removals, bursts of guilds and dequeues', () => {
    // The same policy written with arrays and linear scans, to catch slips in the heap bookkeeping. The reference
    // never forgets an idle flow; the queue forgets (sweeps) those at or behind the virtual time, which must not
    // change the order.
    interface RefFlow {
      id: string;
      start: number;
      finish: number;
      seq: number;
      active: boolean;
    }
    interface RefUser extends RefFlow {
      jobs: FairQueueItem[];
    }
    interface RefGuild extends RefFlow {
      users: RefUser[];
      vtime: number;
      seq: number;
      size: number;
      userSeq: number;
    }
    const reference = {
      guilds: [] as RefGuild[],
      vtime: 0,
      seq: 0,
      enqueue(item: FairQueueItem) {
        let guild = this.guilds.find((g) => g.id === item.guildId);
        if (guild && !guild.active && guild.finish <= this.vtime) {
          // Back at or behind v: a new guild, inside too.
          this.guilds.splice(this.guilds.indexOf(guild), 1);
          guild = undefined;
        }
        if (!guild) {
          guild = { id: item.guildId, start: 0, finish: 0, seq: 0, active: false, users: [], vtime: 0, size: 0, userSeq: 0 };
          this.guilds.push(guild);
        }
        if (!guild.active) Object.assign(guild, { active: true, start: Math.max(this.vtime, guild.finish), seq: this.seq++ });
        let user = guild.users.find((u) => u.id === item.userId);
        if (!user) guild.users.push((user = { id: item.userId, start: 0, finish: 0, seq: 0, active: false, jobs: [] }));
        if (!user.active) Object.assign(user, { active: true, start: Math.max(guild.vtime, user.finish), seq: guild.userSeq++ });
        user.jobs.push(item);
        guild.size += 1;
      },
      remove(item: FairQueueItem) {
        const guild = this.guilds.find((g) => g.id === item.guildId)!;
        const user = guild.users.find((u) => u.id === item.userId)!;
        user.jobs.splice(user.jobs.indexOf(item), 1);
        guild.size -= 1;
        if (user.jobs.length === 0) user.active = false;
        if (guild.size === 0) guild.active = false;
      },
      min<F extends RefFlow>(flows: F[]): F | undefined {
        let best: F | undefined;
        for (const f of flows) {
          if (f.active && (!best || f.start < best.start || (f.start === best.start && f.seq < best.seq))) best = f;
        }
        return best;
      },
      dequeue(): FairQueueItem | undefined {
        const guild = this.min(this.guilds);
        if (!guild) return undefined;
        const user = this.min(guild.users)!;
        const item = user.jobs.shift()!;
        guild.size -= 1;
        guild.vtime = user.start;
        user.finish = user.start + item.cost;
        if (user.jobs.length > 0) Object.assign(user, { start: user.finish, seq: guild.userSeq++ });
        else user.active = false;
        this.vtime = guild.start;
        guild.finish = guild.start + item.cost;
        if (guild.size > 0) Object.assign(guild, { start: guild.finish, seq: this.seq++ });
        else guild.active = false;
        return item;
      },
    };
    const random = mulberry32(12345);
    const queue = new FairQueue();
    const live: FairQueueItem[] = [];
    let dequeued = 0;
    for (let step = 0; step < 4000; step += 1) {
      const roll = random();
      if (roll < 0.03) {
        // A burst of one-job guilds out of a pool of 300: many idle flows remembered at once, then swept.
        for (let i = 0; i < 80; i += 1) {
          const item = job(`p${Math.floor(random() * 300)}`, `u${Math.floor(random() * 2)}`, [10, 20, 50, 80][Math.floor(random() * 4)]!);
          queue.enqueue(item);
          reference.enqueue(item);
          live.push(item);
        }
      } else if (roll < 0.5) {
        const item = job(`g${Math.floor(random() * 6)}`, `u${Math.floor(random() * 3)}`, [10, 20, 50, 80][Math.floor(random() * 4)]!);
        queue.enqueue(item);
        reference.enqueue(item);
        live.push(item);
      } else if (roll < 0.6 && live.length > 0) {
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
    expect(dequeued).toBeGreaterThan(1000);
  });

  // Costs as real requests make them: 1× (20 steps, 512², one image) to 16×.
  const UNIT = 20 * 512 * 512;
  const mixedCost = (random: () => number) => UNIT * (1 + Math.floor(random() * 16));

  it('starts a guild that arrives while another floods with mixed costs at the next dispatch (300 seeds)', () => {
    for (let seed = 1; seed <= 300; seed += 1) {
      const random = mulberry32(seed);
      const queue = new FairQueue();
      for (let i = 0; i < 100; i += 1) queue.enqueue(job('flood', `f${Math.floor(random() * 3)}`, mixedCost(random)));
      // At a random moment: one of the flood's jobs is in service, the rest wait.
      const dispatched = 1 + Math.floor(random() * 99);
      for (let i = 0; i < dispatched; i += 1) expect(queue.dequeue()!.guildId).toBe('flood');
      const late = job('late', 'newcomer', mixedCost(random));
      queue.enqueue(late);
      expect(queue.order()[0], `seed ${seed}`).toBe(late); // its reported position is 1
      expect(queue.dequeue(), `seed ${seed}`).toBe(late);
      expect(queue.size).toBe(100 - dispatched);
    }
  });

  it('starts several guilds that arrive together before the flooding guild runs another job', () => {
    const random = mulberry32(7);
    const queue = new FairQueue();
    for (let i = 0; i < 100; i += 1) queue.enqueue(job('flood', 'f', i % 2 === 0 ? UNIT : 16 * UNIT));
    for (let i = 0; i < 11; i += 1) queue.dequeue();
    const newcomers = ['n1', 'n2', 'n3', 'n4'].map((guild) => job(guild, 'u', mixedCost(random)));
    for (const item of newcomers) queue.enqueue(item);
    // Together they wait for the flood's job in service only, and go in arrival order.
    expect(drain(queue).slice(0, 4)).toEqual(newcomers);
  });

  it('makes a guild that just had a dear job wait for the others to catch up, so resubmitting gains nothing', () => {
    const queue = new FairQueue();
    for (let i = 0; i < 100; i += 1) queue.enqueue(job('flood', 'f', UNIT));
    queue.enqueue(job('dear', 'd', 16 * UNIT));
    expect(queue.dequeue()!.guildId).toBe('flood');
    expect(queue.dequeue()!.guildId).toBe('dear');
    // Resubmits the moment its job starts: its 16 units count, so the flood gets 16 units (its first job and
    // 15 more) before dear's next job.
    queue.enqueue(job('dear', 'd', 16 * UNIT));
    const next = drain(queue).map((item) => item.guildId);
    expect(next.indexOf('dear')).toBe(15);
  });

  it('remembers where a hundred guilds that just ran stand, however many go idle at once', () => {
    const queue = new FairQueue();
    for (let i = 0; i < 20; i += 1) queue.enqueue(job('flood', 'f', 1));
    const guilds = Array.from({ length: 100 }, (_, i) => `g${i}`);
    for (const guild of guilds) queue.enqueue(job(guild, 'u', 10));
    // All start at tag 0: the flood's first job, then the hundred, each ending at tag 10 and going idle.
    const first = Array.from({ length: 101 }, () => queue.dequeue()!.guildId);
    expect(first).toEqual(['flood', ...guilds]);
    // They come straight back: they continue at 10, so the flood runs its jobs tagged 1..9 first.
    for (const guild of guilds) queue.enqueue(job(guild, 'u', 10));
    expect(drain(queue).map((item) => item.guildId)).toEqual([...Array(9).fill('flood'), ...guilds, ...Array(10).fill('flood')]);
  });

  it('keeps a guild that resubmits whenever its job starts to an equal share of cost', () => {
    const random = mulberry32(99);
    const queue = new FairQueue();
    for (let i = 0; i < 3000; i += 1) queue.enqueue(job('flood', 'f', mixedCost(random)));
    queue.enqueue(job('eager', 'e', mixedCost(random)));
    const served = { flood: 0, eager: 0 };
    for (let i = 0; i < 2000; i += 1) {
      const item = queue.dequeue()!;
      served[item.guildId as keyof typeof served] += item.cost;
      // The eager guild never has more than one job queued: it submits the next as soon as one starts.
      if (item.guildId === 'eager') queue.enqueue(job('eager', 'e', mixedCost(random)));
    }
    expect(Math.abs(served.flood - served.eager)).toBeLessThanOrEqual(16 * UNIT);
    expect(jain([served.flood, served.eager])).toBeGreaterThanOrEqual(0.99);
  });

  it("starts a user who arrives while another user of the same guild floods at that guild's next dispatch (300 seeds)", () => {
    for (let seed = 1; seed <= 300; seed += 1) {
      const random = mulberry32(seed);
      const queue = new FairQueue();
      for (let i = 0; i < 100; i += 1) queue.enqueue(job('g', 'flood', mixedCost(random)));
      // Every other seed, a second guild is backlogged too, with several users and mixed costs.
      const busy = seed % 2 === 0;
      if (busy) for (let i = 0; i < 300; i += 1) queue.enqueue(job('other', `o${i % 4}`, mixedCost(random)));
      const fromG = 1 + Math.floor(random() * 99);
      for (let taken = 0; taken < fromG; ) if (queue.dequeue()!.guildId === 'g') taken += 1;
      const late = job('g', 'newcomer', mixedCost(random));
      queue.enqueue(late);
      if (!busy) expect(queue.peek(), `seed ${seed}`).toBe(late);
      const nextOfG = drain(queue).find((item) => item.guildId === 'g');
      expect(nextOfG, `seed ${seed}`).toBe(late);
    }
  });

  it('keeps served cost fair (Jain >= 0.99, gap <= one dear job) among backlogged guilds with different cost mixes', () => {
    const random = mulberry32(2024);
    const mixes: Record<string, Record<string, () => number>> = {
      cheap: { u: () => UNIT },
      dear: { u: () => 16 * UNIT },
      uniform: { u: () => mixedCost(random) },
      bimodal: { u: () => (random() < 0.5 ? UNIT : 16 * UNIT) },
      crowd: { a: () => UNIT, b: () => 4 * UNIT, c: () => 9 * UNIT, d: () => mixedCost(random) },
    };
    const queue = new FairQueue();
    for (const [guild, users] of Object.entries(mixes)) {
      for (const [user, cost] of Object.entries(users)) for (let i = 0; i < 20; i += 1) queue.enqueue(job(guild, user, cost()));
    }
    const served = new Map(Object.keys(mixes).map((guild) => [guild, 0]));
    const servedCrowd = new Map(Object.keys(mixes.crowd!).map((user) => [user, 0]));
    const jobs = new Map(Object.keys(mixes).map((guild) => [guild, 0]));
    let worstGap = 0;
    let worstCrowdGap = 0;
    for (let i = 1; i <= 20_000; i += 1) {
      const item = queue.dequeue()!;
      served.set(item.guildId, served.get(item.guildId)! + item.cost);
      jobs.set(item.guildId, jobs.get(item.guildId)! + 1);
      if (item.guildId === 'crowd') servedCrowd.set(item.userId, servedCrowd.get(item.userId)! + item.cost);
      // Refill the same user: everyone stays backlogged for the whole run.
      queue.enqueue(job(item.guildId, item.userId, mixes[item.guildId]![item.userId]!()));
      const values = [...served.values()];
      worstGap = Math.max(worstGap, Math.max(...values) - Math.min(...values));
      const crowd = [...servedCrowd.values()];
      worstCrowdGap = Math.max(worstCrowdGap, Math.max(...crowd) - Math.min(...crowd));
      if (i >= 1000 && i % 500 === 0) expect(jain(values), `after ${i}`).toBeGreaterThanOrEqual(0.99);
    }
    // SFQ: every backlogged flow's served cost stays within its largest job of the virtual time.
    expect(worstGap).toBeLessThanOrEqual(16 * UNIT);
    expect(worstCrowdGap).toBeLessThanOrEqual(16 * UNIT);
    expect(jain([...servedCrowd.values()])).toBeGreaterThanOrEqual(0.99);
    // Fair by cost, so by count the cheap guild runs about 16 times as many jobs as the dear one.
    expect(jobs.get('cheap')! / jobs.get('dear')!).toBeGreaterThan(15);
  });

  it('reports positions that match the actual dispatch order under random traffic', () => {
    for (let seed = 1; seed <= 40; seed += 1) {
      const random = mulberry32(seed);
      const queue = new FairQueue();
      for (let round = 0; round < 30; round += 1) {
        // Traffic: submissions from a few guilds and users, and some cancels.
        const ops = Math.floor(random() * 12);
        for (let i = 0; i < ops; i += 1) {
          if (random() < 0.8 || queue.size === 0) {
            queue.enqueue(job(`g${Math.floor(random() * 5)}`, `u${Math.floor(random() * 3)}`, mixedCost(random)));
          } else {
            const listed = queue.order();
            queue.remove(listed[Math.floor(random() * listed.length)]!.id);
          }
        }
        // Positions as JobService reports them, then the dispatcher takes jobs until the next submission.
        const listed = queue.order();
        const position = new Map(listed.map((item, index) => [item.id, index + 1]));
        expect(position.size).toBe(queue.size);
        const dispatches = Math.min(queue.size, Math.floor(random() * 8));
        for (let n = 1; n <= dispatches; n += 1) {
          expect(queue.peek()).toBe(listed[n - 1]);
          const item = queue.dequeue()!;
          expect(position.get(item.id), `seed ${seed}`).toBe(n);
          // Everyone left moves up by exactly one.
          expect(queue.order()).toEqual(listed.slice(n));
        }
      }
      const rest = queue.order();
      expect(drain(queue)).toEqual(rest);
    }
  });

  it('keeps the exact order when tags pass 2^53 (rebasing), compared with the same jobs at small costs', () => {
    // Odd, so sums of its multiples are not exact past 2^53; 16 × scale < 2^50, but a few hundred dispatches add
    // up to far more than 2^53.
    const scale = 29_999_999_999_999;
    const run = (factor: number) => {
      const random = mulberry32(5);
      const queue = new FairQueue();
      const out: string[] = [];
      let n = 0;
      for (let step = 0; step < 6000; step += 1) {
        if (random() < 0.52) {
          n += 1;
          const guild = `g${Math.floor(random() * 5)}`;
          const user = `u${Math.floor(random() * 3)}`;
          queue.enqueue({ id: `j${n}`, guildId: guild, userId: user, cost: factor * (1 + Math.floor(random() * 16)) });
        } else {
          const item = queue.dequeue();
          if (item) out.push(item.id);
        }
      }
      return out;
    };
    const small = run(1);
    expect(small.length).toBeGreaterThan(2000);
    expect(run(scale)).toEqual(small);
  });
});
