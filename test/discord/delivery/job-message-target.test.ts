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
