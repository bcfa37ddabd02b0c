import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { FanoutJob } from '../../lambdas/domain/fanout-jobs.js';
import type { LocalStack } from '../../local/stack.js';
import { api, connect, startTestStack, type TestClient } from './harness.js';

// A tiny inline limit and job size, so that a room of 7 takes the workers' path: a plan job, then
// post jobs of 2 connections each, run by the same worker handler as on AWS.
let stack: LocalStack;
let members: TestClient[];
beforeAll(async () => {
  stack = await startTestStack({ inlineFanoutLimit: 3, fanoutJobSize: 2 });
  members = await Promise.all(Array.from({ length: 7 }, (_, i) => connect(stack, `member-${i}`)));
  for (const m of members) await m.request({ action: 'join', room: 'big' });
});
afterAll(async () => {
  await Promise.all(members.map((m) => m.close()));
  await stack?.close();
});

describe('fan-out workers', () => {
  it('answers a push to a room over the inline limit with 202, stores it, and delivers it once to every member', async () => {
    const before = stack.gateway.postsReceived;
    const answer = await api(stack, 'POST', '/v1/push', {
      body: { room: 'big', event: 'news', data: { n: 1 } },
    });

    expect(answer.status).toBe(202);
    expect(answer.body).toEqual({ messageId: expect.any(String), seq: expect.any(Number), queued: 7 });
    for (const m of members) {
      await m.next((f) => f.type === 'message' && f.messageId === answer.body.messageId);
    }
    await stack.fanoutQueue.idle();
    expect(stack.gateway.postsReceived - before).toBe(7);
    for (const m of members) {
      expect(m.messages().filter((f) => f.messageId === answer.body.messageId)).toHaveLength(1);
    }
    const history = await api(stack, 'GET', '/v1/rooms/big/history?limit=1');
    expect(history.body.messages[0]).toMatchObject({
      messageId: answer.body.messageId,
      seq: answer.body.seq,
    });
  });

  it('acks a client send once it is stored and queued, and the other members get it from the workers', async () => {
    const [sender, ...others] = members as [TestClient, ...TestClient[]];
    const ack = await sender.request({ action: 'send', room: 'big', event: 'chat', data: 'hi' });

    expect(ack).toMatchObject({ type: 'ack', messageId: expect.any(String), seq: expect.any(Number) });
    for (const m of others) {
      await m.next((f) => f.type === 'message' && f.messageId === ack.messageId);
    }
    await stack.fanoutQueue.idle();
    expect(sender.messages().filter((f) => f.messageId === ack.messageId)).toHaveLength(0);
  });

  it('takes a broadcast over the limit through the workers too', async () => {
    const answer = await api(stack, 'POST', '/v1/push', {
      body: { broadcast: true, event: 'all', data: null },
    });

    expect(answer.status).toBe(202);
    expect(answer.body.queued).toBeGreaterThanOrEqual(7);
    for (const m of members) {
      await m.next((f) => f.type === 'message' && f.messageId === answer.body.messageId);
    }
  });

  it('delivers a room within the limit inline, answering 200 with the counts', async () => {
    const a = await connect(stack, 'small-a');
    const b = await connect(stack, 'small-b');
    await a.request({ action: 'join', room: 'small' });
    await b.request({ action: 'join', room: 'small' });

    const answer = await api(stack, 'POST', '/v1/push', { body: { room: 'small', event: 'e', data: 1 } });

    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ delivered: 2, pruned: 0, failed: 0 });
    await Promise.all([a.close(), b.close()]);
  });
});

describe('presence announcements in a room over the inline limit', () => {
  it('are handed to the workers for a join, a leave and a close, and reach every other member once', async () => {
    // Every job the service enqueues, seen on its way into the in-process queue.
    const queued: FanoutJob[] = [];
    const enqueue = stack.fanoutQueue.enqueue.bind(stack.fanoutQueue);
    stack.fanoutQueue.enqueue = (jobs) => {
      queued.push(...jobs);
      return enqueue(jobs);
    };
    onTestFinished(() => {
      stack.fanoutQueue.enqueue = enqueue;
    });
    const room = 'presence-big';
    const inRoom = await Promise.all(Array.from({ length: 5 }, (_, i) => connect(stack, `p-${i}`)));
    for (const m of inRoom) await m.request({ action: 'join', room });
    await stack.fanoutQueue.idle();
    const [first, leaving, ...rest] = inRoom as [TestClient, TestClient, ...TestClient[]];
    const newcomer = await connect(stack, 'p-new');
    const plans = () => queued.filter((j) => j.kind === 'plan' && j.presence).map((j) => j.presence);
    const seen = (m: TestClient, event: string, userId: string) =>
      m.frames.filter((f) => f.type === 'presence' && f.event === event && f.userId === userId);

    // A sixth member: the room is over the limit of 3, so the join is announced by the workers.
    await newcomer.request({ action: 'join', room });
    for (const m of inRoom) await m.next((f) => f.type === 'presence' && f.userId === 'p-new');
    // A leave, the room still over the limit after it.
    await leaving.request({ action: 'leave', room });
    for (const m of [first, ...rest, newcomer])
      await m.next((f) => f.type === 'presence' && f.userId === 'p-1');
    // A close ($disconnect), likewise.
    await newcomer.close();
    for (const m of [first, ...rest]) {
      await m.next((f) => f.type === 'presence' && f.event === 'leave' && f.userId === 'p-new');
    }
    await stack.fanoutQueue.idle();

    expect(plans()).toEqual([
      { room, userId: 'p-3', event: 'join' },
      { room, userId: 'p-4', event: 'join' },
      { room, userId: 'p-new', event: 'join' },
      { room, userId: 'p-1', event: 'leave' },
      { room, userId: 'p-new', event: 'leave' },
    ]);
    for (const m of [first, ...rest]) {
      expect(seen(m, 'join', 'p-new')).toHaveLength(1);
      expect(seen(m, 'leave', 'p-new')).toHaveLength(1);
    }
    expect(seen(newcomer, 'join', 'p-new')).toEqual([]);
    await Promise.all([first, leaving, ...rest].map((m) => m.close()));
  });
});
