import type { REST } from 'discord.js';
import { describe, expect, it } from 'vitest';
import { JobMessageTarget } from '../../../src/discord/delivery/job-message-target.js';

/** A REST stand-in that records calls and answers with message ids. */
function fakeRest() {
  const calls: { method: string; route: string; body: any }[] = [];
  let next = 1;
  const rest = {
    post: async (route: string, options: { body: any }) => {
      calls.push({ method: 'POST', route, body: options.body });
      return { id: `posted${next++}` };
    },
    patch: async (route: string, options: { body: any }) => {
      calls.push({ method: 'PATCH', route, body: options.body });
      return { id: route.split('/').pop() };
    },
  };
  return { rest: rest as unknown as REST, calls };
}

const state = (content: string) => ({ content, components: [] });

describe('JobMessageTarget for a job made from a message', () => {
  it('posts its first state, even an intermediate one, as a reply without a ping, then edits that message', async () => {
    const { rest, calls } = fakeRest();
    const stored: string[] = [];
    const target = new JobMessageTarget(
      { jobId: 'j1', userId: 'u1', channelId: 'c1', interactionToken: null, interactionCreatedAt: null, messageId: null, replyToMessageId: 'reply1' },
      { rest, applicationId: 'app', onMessageId: (id) => stored.push(id) },
    );
    await target.send(state('⏳ Queued'), false);
    await target.send(state('🎨 step 1/4'), false);
    await target.send(state('done'), true);
    expect(calls.map((c) => `${c.method} ${c.route}`)).toEqual([
      'POST /channels/c1/messages',
      'PATCH /channels/c1/messages/posted1',
      'PATCH /channels/c1/messages/posted1',
    ]);
    expect(calls[0].body).toMatchObject({
      content: '⏳ Queued',
      message_reference: { message_id: 'reply1' },
      allowed_mentions: { parse: [], replied_user: false },
    });
    expect(stored).toEqual(['posted1']);
  });

  it('after a restart edits the message it showed before', async () => {
    const { rest, calls } = fakeRest();
    const target = new JobMessageTarget(
      {
        jobId: 'j1',
        userId: 'u1',
        channelId: 'c1',
        interactionToken: null,
        interactionCreatedAt: null,
        messageId: 'shown1',
        replyToMessageId: 'reply1',
      },
      { rest, applicationId: 'app' },
    );
    await target.send(state('⏳ Queued'), false);
    expect(calls.map((c) => `${c.method} ${c.route}`)).toEqual(['PATCH /channels/c1/messages/shown1']);
  });

  it('still posts nothing for an intermediate state of an interaction job without a message', async () => {
    const { rest, calls } = fakeRest();
    const target = new JobMessageTarget(
      { jobId: 'j1', userId: 'u1', channelId: 'c1', interactionToken: null, interactionCreatedAt: null, messageId: null },
      { rest, applicationId: 'app' },
    );
    await target.send(state('⏳ Queued'), false);
    expect(calls).toEqual([]);
  });
});

describe('JobMessageTarget with several images (a ControlNet result and its maps)', () => {
  it('uploads the image and the maps as attachments 0..n, and keeps them by id when the same state is sent again', async () => {
    const calls: { body: any; files?: { name: string }[] }[] = [];
    const rest = {
      patch: async (_route: string, options: { body: any; files?: { name: string }[] }) => {
        calls.push(options);
        return {
          id: 'm1',
          attachments: (options.body.attachments as { id: number | string }[]).map((_entry, i) => ({ id: `att${calls.length}-${i}` })),
        };
      },
      post: async () => ({ id: 'm1' }),
    } as unknown as REST;
    const target = new JobMessageTarget(
      { jobId: 'j1', userId: 'u1', channelId: 'c1', interactionToken: 'tok', interactionCreatedAt: Date.now(), messageId: 'm1' },
      { rest, applicationId: 'app' },
    );
    const png = new Uint8Array([1]);
    const done = {
      content: 'done',
      components: [],
      image: { key: 'final', name: 'imagine-1.png', png },
      extraImages: [
        { key: 'map0', name: 'control-0.png', png },
        { key: 'map1', name: 'control-1.png', png },
      ],
    };
    await target.send(done, true);
    expect(calls[0].body.attachments).toEqual([
      { id: 0, filename: 'imagine-1.png' },
      { id: 1, filename: 'control-0.png' },
      { id: 2, filename: 'control-1.png' },
    ]);
    expect(calls[0].files!.map((f) => f.name)).toEqual(['imagine-1.png', 'control-0.png', 'control-1.png']);
    await target.send(done, true);
    expect(calls[1].body.attachments).toEqual([{ id: 'att1-0' }, { id: 'att1-1' }, { id: 'att1-2' }]);
    expect(calls[1].files).toBeUndefined();
    // Another set (one map fewer) is uploaded whole rather than half kept.
    await target.send({ ...done, extraImages: done.extraImages.slice(0, 1) }, true);
    expect(calls[2].files!.map((f) => f.name)).toEqual(['imagine-1.png', 'control-0.png']);
  });
});
