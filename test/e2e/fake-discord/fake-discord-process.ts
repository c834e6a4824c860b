/**
 * Runs a FakeDiscord in its own process (forked by RemoteFakeDiscord), so that a benchmark measures the bot and not
 * the fake: with the fake in the bot's process, its socket accepts, body parsing (multipart preview PNGs) and
 * bookkeeping share the bot's event loop, and the moment it records an acknowledgement drifts with whatever the
 * bot is doing. Times it reports are epoch milliseconds (performance.timeOrigin + performance.now()), comparable
 * across processes on one machine.
 */
import { dispatchOnSchedule, summarizeLateness, type Arrivals } from './arrivals.js';
import { FakeDiscord, type FakeGuild, type InteractionRecord } from './fake-discord.js';
import type { RemoteBurstCommand, RemoteReport, ToFakeProcess, FromFakeProcess } from './remote-fake-discord.js';

const epoch = (at: number | undefined) => (at === undefined ? undefined : performance.timeOrigin + at);
const send = (message: FromFakeProcess) => process.send!(message);

let fake: FakeDiscord | undefined;
/** The latest burst (each burst replaces the one before). */
let burst: InteractionRecord[] = [];
const pendingAcks = new Set<string>();
const pendingFinals = new Set<string>();
let prepared: { commands: RemoteBurstCommand[]; arrivals: Arrivals } = { commands: [], arrivals: { kind: 'burst', perTurn: 10 } };
/** Still dispatching: at a rate, every command so far may be acknowledged long before the last one is sent. */
let dispatching = false;
let ackedSent = false;
let finalsSent = false;

/** Checked on every request the bot makes; incremental, so the fake's own bookkeeping stays O(messages). */
function onRequest(): void {
  if (!fake || dispatching) return;
  for (const id of pendingAcks) if (fake.interactions.get(id)?.ackAt !== undefined) pendingAcks.delete(id);
  if (pendingAcks.size === 0 && burst.length > 0 && !ackedSent) {
    ackedSent = true;
    send({ type: 'acked' });
  }
  if (pendingFinals.size > 0) {
    for (const message of fake.messages.values()) {
      if (
        message.interactionId &&
        pendingFinals.has(message.interactionId) &&
        message.attachments.some((a) => a.filename.endsWith('.png') && a.filename !== 'preview.png')
      ) {
        pendingFinals.delete(message.interactionId);
      }
    }
  }
  if (pendingFinals.size === 0 && burst.length > 0 && !finalsSent) {
    finalsSent = true;
    send({ type: 'finals' });
  }
}

async function dispatchBurst(commands: RemoteBurstCommand[], arrivals: Arrivals): Promise<void> {
  burst = [];
  pendingAcks.clear();
  pendingFinals.clear();
  ackedSent = false;
  finalsSent = false;
  dispatching = true;
  let lateness: number[];
  try {
    // A burst still goes out `perTurn` per event-loop turn, spread out a little as from real users; a rate follows
    // the fake's own high-resolution clock. Either way the record's dispatchedAt is the moment it was actually sent.
    lateness = await dispatchOnSchedule(commands.length, arrivals, (i) => {
      const { guildIndex, user, name, options } = commands[i];
      const record = fake!.sendCommand({ name, guild: fake!.guilds[guildIndex], user, options });
      burst.push(record);
      pendingAcks.add(record.id);
      pendingFinals.add(record.id);
    });
  } finally {
    dispatching = false;
  }
  send({ type: 'dispatched', ids: burst.map((r) => r.id), lateness: summarizeLateness(lateness) });
  onRequest();
}

function report(): RemoteReport {
  return {
    interactions: burst.map((r) => ({ id: r.id, dispatchedAt: epoch(r.dispatchedAt)!, ackAt: epoch(r.ackAt), callbackType: r.callbackType })),
    requests: fake!.requests.map((r) => ({ route: r.route, status: r.status, at: epoch(r.at)! })),
  };
}

process.on('message', (message: ToFakeProcess) => {
  void (async () => {
    switch (message.type) {
      case 'start': {
        fake = new FakeDiscord({ botToken: message.botToken, guilds: message.guilds as FakeGuild[] });
        fake.on('request', onRequest);
        await fake.start();
        send({ type: 'started', apiBase: fake.apiBase });
        break;
      }
      case 'prepare':
        prepared = { commands: message.commands, arrivals: message.arrivals };
        send({ type: 'prepared' });
        break;
      case 'burst':
        await dispatchBurst(prepared.commands, prepared.arrivals);
        break;
      case 'report':
        send({ type: 'report', report: report() });
        break;
      case 'stop':
        await fake?.stop();
        process.disconnect();
        break;
    }
  })().catch((error: unknown) => {
    send({ type: 'error', message: String((error as Error)?.stack ?? error) });
  });
});
