import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { countsAgainstSource, relayHandler, type RelayEvent } from '../../functions/relay/handler';
import { putToken, type Identity } from '../../shared/auth/tokens';
import { loadConfig } from '../../shared/config';
import { RateLimiter, sourceExemptions } from '../../shared/rate-limit';
import { openRelaySession } from '../../shared/relay/session';
import { memoryDoc } from '../helpers/relay-memory-doc';
import { TOO_MANY_REQUESTS_STATUS } from '../helpers/statuses';

/*
 * The kubelet relay's `$connect` and the per-source budget of failed authentications
 * (functions/relay/handler.ts, shared/rate-limit.ts "Per-source budgets"): which refusals count,
 * and that an address over its budget is refused 429 before any token lookup or session read.
 * The DynamoDB client is the relay's in-memory table wrapped to record every command; the
 * source counters' conditional ADD is played here (the limiter's lease).
 */
const config = loadConfig({});
const NOW = 5_000_000_500;
const node: Identity = { tenant: 't1', user: 'system:node:n1', groups: ['system:nodes', 'system:authenticated'] };

function setup(opts: { exempt?: string; limit?: number } = {}) {
  const inner = memoryDoc();
  const sent: { name: string; pk: string }[] = [];
  const counters = new Map<string, number>();
  const doc = {
    items: inner.items,
    send: async (cmd: { constructor: { name: string }; input: { Key?: { pk: string; sk: string }; Item?: { pk: string }; ExpressionAttributeValues?: Record<string, number> } }) => {
      const pk = cmd.input.Key?.pk ?? cmd.input.Item?.pk ?? '';
      sent.push({ name: cmd.constructor.name, pk });
      if (!(cmd instanceof UpdateCommand && pk.startsWith('~source#'))) return inner.send(cmd as never);
      const key = `${pk}|${cmd.input.Key!.sk}`;
      const used = counters.get(key);
      if (used !== undefined && used >= cmd.input.ExpressionAttributeValues![':limit']!) throw Object.assign(new Error('condition'), { name: 'ConditionalCheckFailedException' });
      counters.set(key, (used ?? 0) + cmd.input.ExpressionAttributeValues![':n']!);
      return { Attributes: { used: counters.get(key) } };
    },
  } as unknown as ReturnType<typeof memoryDoc>;
  const limiter = new RateLimiter(doc, config, {
    now: () => NOW,
    sourceLimits: { auth: opts.limit ?? 3, join: 5, anonymous: 20 },
    exempt: sourceExemptions({ STRATUS_SOURCE_LIMIT_EXEMPT: opts.exempt ?? '' }),
  });
  const handler = relayHandler({ doc, config, now: () => NOW, limiter, management: () => ({ send: (async () => ({})) as never }) });
  let n = 0;
  const connect = (sourceIp: string, query: Record<string, string>, authorization?: string) =>
    handler({
      requestContext: {
        routeKey: '$connect',
        eventType: 'CONNECT',
        connectionId: `c${n++}`,
        domainName: 'abc.execute-api.eu-west-1.amazonaws.com',
        stage: 'relay',
        identity: { sourceIp, userAgent: 't' },
      } as RelayEvent['requestContext'],
      queryStringParameters: query,
      headers: authorization ? { Authorization: authorization } : {},
      isBase64Encoded: false,
    });
  return { doc, sent, connect };
}

const q = (side: string, session: string, tenant = 't1') => ({ side, tenant, session });

describe('the relay $connect and its address budget of failed authentications', () => {
  it('refuses an address over its budget 429 with Retry-After, before any token lookup or session read; another address is looked up as before', async () => {
    // Prepare
    const r = setup();
    const { session } = await openRelaySession(r.doc, config, 't1', 'n1', NOW);
    const source = '198.51.100.7';
    // Act: bad node tokens until refused (budget 3, leases of 1: the 4th failure's lease is refused)
    const statuses: number[] = [];
    let refused: Awaited<ReturnType<typeof r.connect>> | undefined;
    let sentDuring = -1;
    for (let i = 0; i < 20 && !refused; i++) {
      const sentBefore = r.sent.length;
      const res = await r.connect(source, q('node', session), `Bearer st_guess-${i}`);
      statuses.push(res.statusCode!);
      if (res.statusCode === 429) {
        refused = res;
        sentDuring = r.sent.length - sentBefore;
      }
    }
    const elsewhere = await r.connect('198.51.100.8', q('node', session), 'Bearer st_guess-elsewhere');
    // Assess
    expect(statuses.slice(0, 4)).toEqual([401, 401, 401, 401]);
    expect(statuses.at(-1)).toBe(429);
    // no token lookup, no session read, no counter: nothing sent at all
    expect(sentDuring).toBe(0);
    // a lookup for each 401, and the other address's: none for the 429
    expect(r.sent.filter((c) => c.name === 'GetCommand' && c.pk.startsWith('token#'))).toHaveLength(statuses.length);
    expect(refused!.headers).toMatchObject({ 'retry-after': '1' });
    expect(JSON.parse(refused!.body!)).toEqual(TOO_MANY_REQUESTS_STATUS);
    expect(r.sent.some((c) => c.pk === `~source#${source}`)).toBe(true);
    expect(elsewhere.statusCode).toBe(401);
  });

  it('never counts a valid node token, and lets a node token it knows through an address over its budget', async () => {
    // Prepare
    const r = setup();
    await putToken(r.doc, config, 'st_node-n1', node);
    const source = '198.51.100.9';
    const first = await openRelaySession(r.doc, config, 't1', 'n1', NOW);
    // Act: the node connects (and is known), then fails a few times validly (another node's
    // session: 403; a session that ended: 404), which count nothing...
    expect((await r.connect(source, q('node', first.session), 'Bearer st_node-n1')).statusCode).toBe(200);
    const other = await openRelaySession(r.doc, config, 't1', 'n2', NOW);
    for (let i = 0; i < 5; i++) expect((await r.connect(source, q('node', other.session), 'Bearer st_node-n1')).statusCode).toBe(403);
    for (let i = 0; i < 5; i++) expect((await r.connect(source, q('node', 'f'.repeat(32)), 'Bearer st_node-n1')).statusCode).toBe(404);
    const counted = r.sent.filter((c) => c.pk.startsWith('~source#')).length;
    // ...then guesses come from the same address until refused
    let guesses = 0;
    while ((await r.connect(source, q('node', other.session), `Bearer st_guess-${guesses}`)).statusCode !== 429 && guesses < 20) guesses++;
    const next = await openRelaySession(r.doc, config, 't1', 'n1', NOW);
    const valid = await r.connect(source, q('node', next.session), 'Bearer st_node-n1');
    const unknownNode = await r.connect(source, q('node', next.session), 'Bearer st_node-never-seen');
    // Assess
    expect(counted).toBe(0);
    expect(guesses).toBe(4);
    expect(valid.statusCode).toBe(200);
    expect(unknownNode.statusCode).toBe(429);
  });

  it('an exempt address is never counted nor refused; a malformed session URL costs nothing and counts nothing', async () => {
    // Prepare
    const r = setup({ exempt: '203.0.113.0/24' });
    const { session } = await openRelaySession(r.doc, config, 't1', 'n1', NOW);
    // Act
    const exempt = await Promise.all(Array.from({ length: 12 }, (_, i) => r.connect('203.0.113.5', q('node', session), `Bearer st_guess-${i}`)));
    const malformed = await Promise.all(Array.from({ length: 12 }, () => r.connect('198.51.100.10', q('node', 'not-a-session'), 'Bearer st_guess')));
    // Assess
    expect(exempt.map((x) => x.statusCode)).toEqual(Array(12).fill(401));
    expect(malformed.map((x) => x.statusCode)).toEqual(Array(12).fill(404));
    expect(r.sent.filter((c) => c.pk.startsWith('~source#'))).toEqual([]);
  });

  it('counts what did work with a credential that did not prove itself', () => {
    const otherCluster: Identity = { ...node, tenant: 't2' };
    const user: Identity = { tenant: 't1', user: 'system:node:n1', groups: ['system:authenticated'] };
    const rows: [Parameters<typeof countsAgainstSource>, boolean][] = [
      [['node', 401, undefined, 't1'], true],
      [['node', 403, otherCluster, 't1'], true],
      [['node', 403, user, 't1'], true],
      [['node', 404, undefined, 't1'], true],
      [['node', 410, undefined, 't1'], true],
      [['node', 403, node, 't1'], false],
      [['node', 404, node, 't1'], false],
      [['node', 409, node, 't1'], false],
      [['node', 410, node, 't1'], false],
      [['api', 401, undefined, 't1'], true],
      [['api', 404, undefined, 't1'], true],
      [['api', 409, undefined, 't1'], false],
      [['api', 410, undefined, 't1'], false],
    ];
    for (const [args, counts] of rows) expect(countsAgainstSource(...args), JSON.stringify(args)).toBe(counts);
  });
});
