import { randomBytes } from 'node:crypto';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import type { Logger } from '../../node-agent/log';
import { PlacementKeyring } from '../../node-agent/placement-key';
import { PlacementQueue, type PlacementMessage, type PlacementReceipt } from '../../node-agent/placement-queue';
import { sealPlacement, type PlacementKey } from '../../shared/placement-seal';
import { podSyncMessage } from '../../shared/queue';

/* The agent's side of sealed placements (node-agent/placement-queue.ts, placement-key.ts). */

const keyA: PlacementKey = { keyId: 'a1', key: randomBytes(32) };
const keyB: PlacementKey = { keyId: 'b2', key: randomBytes(32) };
const pod = (name: string, uid: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default', uid, resourceVersion: '7' },
  spec: { nodeName: 'node-a', containers: [{ name: 'main', image: 'busybox' }] },
});
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined, child: () => silent } as unknown as Logger;

function captured(): { log: Logger; lines: { message: string; fields?: Record<string, unknown> }[] } {
  const lines: { message: string; fields?: Record<string, unknown> }[] = [];
  const log = {
    info: (message: string, fields?: Record<string, unknown>) => lines.push({ message, ...(fields ? { fields } : {}) }),
    warn: (message: string, fields?: Record<string, unknown>) => lines.push({ message, ...(fields ? { fields } : {}) }),
    error: (message: string, fields?: Record<string, unknown>) => lines.push({ message, ...(fields ? { fields } : {}) }),
  } as unknown as Logger;
  return { log, lines };
}

/** One poll over `bodies` (with SentTimestamp `sentAt`); what was handled and which were deleted. */
async function pollOnce(bodies: readonly string[], keys: PlacementKeyring | undefined, sentAt = Date.now(), log: Logger = silent) {
  const abort = new AbortController();
  const deleted: string[] = [];
  const handled: { msg: PlacementMessage; receipt: PlacementReceipt; id: string }[] = [];
  let received = false;
  const sqs = {
    send: async (cmd: { constructor: { name: string }; input: { ReceiptHandle?: string } }) => {
      switch (cmd.constructor.name) {
        case 'CreateQueueCommand':
          return { QueueUrl: 'http://sqs/q' };
        case 'GetQueueAttributesCommand':
          return { Attributes: { QueueArn: 'arn:aws:sqs:r:1:q-dlq' } };
        case 'DeleteMessageCommand':
          deleted.push(cmd.input.ReceiptHandle!);
          return {};
        case 'ReceiveMessageCommand':
          if (received) {
            abort.abort();
            return { Messages: [] };
          }
          received = true;
          return { Messages: bodies.map((Body, i) => ({ MessageId: `m${i}`, ReceiptHandle: `h${i}`, Body, Attributes: { SentTimestamp: String(sentAt) } })) };
        default:
          return {};
      }
    },
  } as unknown as SQSClient;
  const queue = new PlacementQueue({ sqs, queueName: 'q', deadLetterQueueName: 'q-dlq', log, ...(keys ? { keys } : {}) });
  await queue.poll(abort.signal, async (msg, receipt) => {
    handled.push({ msg, receipt, id: msg.name });
  });
  return { deleted, handled };
}

const keyring = (fetch: () => Promise<PlacementKey>, log: Logger = silent) => new PlacementKeyring({ cluster: 'acme', nodeName: 'node-a', fetch, log, refetchIntervalMs: 60_000 });
const toA = { cluster: 'acme', nodeName: 'node-a' };

describe('the placement queue with sealed placements', () => {
  it('opens what was sealed for this node; drops what was sealed for another node or changed; takes a clear placement as a hint only', async () => {
    // Prepare
    const { log, lines } = captured();
    const keys = keyring(async () => keyA, log);
    const mine = sealPlacement(podSyncMessage('acme', pod('mine', 'u1')), toA, keyA);
    // Node B's placement, copied into A's queue by someone who can read B's queue and send to A's.
    const replayed = sealPlacement(podSyncMessage('acme', pod('bs', 'u2')), { cluster: 'acme', nodeName: 'node-b' }, keyB);
    // Sealed for A with A's key id, but under B's key: a forgery by node B.
    const forged = sealPlacement(podSyncMessage('acme', pod('forged', 'u3')), toA, { keyId: keyA.keyId, key: keyB.key });
    const tamperedBody = JSON.parse(sealPlacement(podSyncMessage('acme', pod('tampered', 'u4')), toA, keyA)) as { d: string };
    const bytes = Buffer.from(tamperedBody.d, 'base64');
    bytes[bytes.length - 20]! ^= 1;
    const tampered = JSON.stringify({ ...tamperedBody, d: bytes.toString('base64') });
    const clear = JSON.stringify(podSyncMessage('acme', pod('clear', 'u5')));

    // Act
    const { deleted, handled } = await pollOnce([mine, replayed, forged, tampered, clear], keys, Date.now(), log);

    // Assess: every message deleted (none can become readable by retrying); two handled
    expect(deleted.sort()).toEqual(['h0', 'h1', 'h2', 'h3', 'h4']);
    expect(handled.map((h) => h.id).sort()).toEqual(['clear', 'mine']);
    expect(handled.find((h) => h.id === 'mine')!.msg.pod?.metadata.uid).toBe('u1');
    // The clear one names its pod, but its pod is not used: the agent reads the API.
    expect(handled.find((h) => h.id === 'clear')!.msg.pod).toBeUndefined();
    expect(lines.filter((l) => l.message === 'sealed placement not for this node, dropped')).toHaveLength(3);
  });

  it('takes the age of a sealed placement from its seal, not from when SQS got it (a copy sent again later is not fresh)', async () => {
    const sealedAt = Date.now() - 10 * 60_000;
    const old = sealPlacement(podSyncMessage('acme', pod('old', 'u1')), toA, keyA, sealedAt);
    const { handled } = await pollOnce([old], keyring(async () => keyA), Date.now());
    expect(handled[0]!.receipt.sentAt?.getTime()).toBe(sealedAt);
  });

  it('leaves a sealed placement for a retry while the node has no key yet, and drops it when the agent has no keyring', async () => {
    const body = sealPlacement(podSyncMessage('acme', pod('early', 'u1')), toA, keyA);
    const noKey = await pollOnce([body], keyring(async () => Promise.reject(new Error('api unreachable'))));
    expect(noKey).toEqual({ deleted: [], handled: [] });
    const noRing = await pollOnce([body], undefined);
    expect(noRing).toEqual({ deleted: ['h0'], handled: [] });
  });

  it('fetches the key again when a placement names another key (replaced), and then opens only under the new one', async () => {
    // Prepare: the node's key is replaced (a revocation) after the agent first fetched it
    const newKey: PlacementKey = { keyId: 'c3', key: randomBytes(32) };
    let served = keyA;
    let fetches = 0;
    const keys = keyring(async () => {
      fetches++;
      return served;
    });
    await keys.load();
    served = newKey;
    const underNew = sealPlacement(podSyncMessage('acme', pod('new', 'u1')), toA, newKey);
    const underOld = sealPlacement(podSyncMessage('acme', pod('old', 'u2')), toA, keyA);

    // Act
    const first = await pollOnce([underNew], keys);
    const second = await pollOnce([underOld], keys);

    // Assess
    expect(first.handled.map((h) => h.id)).toEqual(['new']);
    expect(second).toEqual({ deleted: ['h0'], handled: [] });
    expect(fetches).toBe(2); // the second message's refetch is within the interval: no third fetch
  });
});
