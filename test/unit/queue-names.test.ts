import { describe, expect, it } from 'vitest';
import { nodeDeadLetterQueueName, nodeQueueClusterPrefix, nodeQueueName } from '../../shared/config';

const SQS_NAME = /^[A-Za-z0-9_-]{1,80}$/;

describe('node queue names', () => {
  it.each([
    ['a-b + c vs a + b-c', ['a-b', 'c'], ['a', 'b-c']],
    ['dash moved across the boundary', ['team-x', 'node-1'], ['team', 'x-node-1']],
    ['dot in a node name vs underscore', ['t', 'n.1'], ['t', 'n_1']],
    ['long names sharing the readable head', ['t'.repeat(63), 'node-1'], ['t'.repeat(63), 'node-2']],
    ['long node names differing only at the end', ['a', `${'n'.repeat(200)}1`], ['a', `${'n'.repeat(200)}2`]],
  ])('never collide: %s', (_name, [t1, n1], [t2, n2]) => {
    expect(nodeQueueName('stratus', t1!, n1!)).not.toBe(nodeQueueName('stratus', t2!, n2!));
    expect(nodeDeadLetterQueueName('stratus', t1!, n1!)).not.toBe(nodeDeadLetterQueueName('stratus', t2!, n2!));
  });

  it('is stable, readable and starts with the prefix', () => {
    const name = nodeQueueName('stratus', 'default', 'node-1');
    expect(name).toBe(nodeQueueName('stratus', 'default', 'node-1'));
    expect(name).toMatch(/^stratus-[0-9a-f]{16}-default-node-1-[0-9a-f]{16}$/);
  });

  it.each([
    ['short', 'stratus', 'default', 'n'],
    ['longest prefix and names', 'p'.repeat(40), 'c'.repeat(63), 'n'.repeat(253)],
    ['characters SQS refuses', 'stratus', 'default', 'ip-10-0-0-1.ec2.internal'],
  ])('fits SQS (name and DLQ within 80 characters): %s', (_case, prefix, tenant, node) => {
    const name = nodeQueueName(prefix, tenant, node);
    const dlq = nodeDeadLetterQueueName(prefix, tenant, node);
    expect(name).toMatch(SQS_NAME);
    expect(dlq).toMatch(SQS_NAME);
    expect(name.startsWith(`${prefix}-`)).toBe(true);
    expect(name.startsWith(nodeQueueClusterPrefix(prefix, tenant))).toBe(true);
    expect(dlq).toBe(`${name}-dlq`);
  });

  it('a DLQ name is never some queue name', () => {
    const names = new Set<string>();
    for (const t of ['a', 'a-dlq', 'b']) for (const n of ['x', 'x-dlq', 'y']) names.add(nodeQueueName('stratus', t, n));
    for (const t of ['a', 'a-dlq', 'b']) for (const n of ['x', 'x-dlq', 'y']) expect(names.has(nodeDeadLetterQueueName('stratus', t, n))).toBe(false);
  });

  it('differs between deployments (prefixes) for the same pair', () => {
    expect(nodeQueueName('stratus', 'a', 'b').split('-').pop()).not.toBe(nodeQueueName('stratus2', 'a', 'b').split('-').pop());
  });

  // On AWS a node fleet's role may touch `${nodeQueueClusterPrefix(prefix, itsCluster)}*` only
  // (infra/constructs/node-queues.ts): no other cluster's queue or DLQ may match that pattern.
  it.each([
    ['a vs a-b (a readable prefix would match both)', 'a', 'a-b'],
    ['default vs default2', 'default', 'default2'],
    ['team vs team-x', 'team', 'team-x'],
  ])("a cluster's IAM pattern matches none of another cluster's queues: %s", (_case, t1, t2) => {
    const mine = nodeQueueClusterPrefix('stratus', t1);
    for (const n of ['n1', 'x-n1', '', 'b']) {
      expect(nodeQueueName('stratus', t1, n).startsWith(mine)).toBe(true);
      expect(nodeDeadLetterQueueName('stratus', t1, n).startsWith(mine)).toBe(true);
      expect(nodeQueueName('stratus', t2, n).startsWith(mine)).toBe(false);
      expect(nodeDeadLetterQueueName('stratus', t2, n).startsWith(mine)).toBe(false);
      expect(nodeQueueName('stratus', t1, n).startsWith(nodeQueueClusterPrefix('stratus', t2))).toBe(false);
    }
    expect(mine).toMatch(/^stratus-[0-9a-f]{16}-$/);
  });
});
