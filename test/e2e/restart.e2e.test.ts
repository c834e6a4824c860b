import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { finalMessageOf, startHarness, type Harness } from './bot-harness.js';

const opt = (name: string, value: string | number, type = typeof value === 'number' ? 4 : 3) => ({ name, type, value });

describe('a restart mid-queue', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('updates the messages of queued and running jobs again and delivers every result', async () => {
    const users = ['300000000000000001', '300000000000000002', '300000000000000003'];
    const interactions = users.map((id, i) =>
      h.fake.sendCommand({
        name: 'imagine',
        user: { id, username: `u${i}` },
        options: [opt('prompt', `restart job ${i}`), opt('model', 'slow'), opt('steps', 20)],
      }),
    );
    // Every job is acknowledged and shown, and the first one is running.
    await h.fake.waitFor(() => interactions.every((i) => (h.fake.replyOf(i.id)?.edits ?? 0) > 0) || undefined);
    await h.fake.waitFor(() => h.app.jobs.list().some((l) => l.position === null) || undefined);
    const unfinished = h.app.jobs.list().map((l) => l.job.id);
    expect(unfinished.length).toBeGreaterThanOrEqual(2);

    await h.restart();
    const restartedAt = performance.now();

    const finals = await Promise.all(interactions.map((i) => finalMessageOf(h.fake, i.id)));
    for (const final of finals) expect(final.attachments[0].data.length).toBeGreaterThan(0);
    const queuedAgain = interactions.filter((i) =>
      h.fake.requests.some((r) => r.at > restartedAt && r.path.includes(i.token) && String(r.json?.content ?? '').includes('⏳ Queued')),
    );
    expect(queuedAgain.length).toBeGreaterThanOrEqual(1);
    // Delivery is confirmed in the store once Discord answered the final edit.
    await vi.waitFor(
      () => {
        for (const id of unfinished) expect(h.app.store.jobs.get(id)).toMatchObject({ state: 'done', deliveredAt: expect.any(Number) });
      },
      { timeout: 10_000 },
    );
  });
});
