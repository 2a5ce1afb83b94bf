/**
 * The kubelet relay's `$connect` (functions/relay/handler.ts, behind the local stack's API Gateway
 * WebSocket emulator) under the per-source budget of failed authentications: a brute force of
 * bad node tokens from one address is refused 429 TooManyRequests once the address has spent its
 * budget, while a node whose token the relay knows still connects from that same address, and
 * another address is not held by it.
 *
 * The suite's own address (127.0.0.1) is exempt (test/global-setup.ts); each test here dials
 * from a loopback address of its own (Linux answers 127.0.0.0/8 on loopback), which gets the
 * default budget (10 failed authentications a second per address).
 *
 * No timed assertions: guesses go on in waves until refused (a bounded number of waves, far more
 * failures than any split over one-second windows could admit); a relay that never refuses
 * fails the test.
 */
import { randomInt } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { WebSocket } from 'ws';
import { createNodeToken } from '../../../shared/auth/node-identity';
import { loadConfig } from '../../../shared/config';
import { relaySideUrl } from '../../../shared/relay/frames';
import { openRelaySession } from '../../../shared/relay/session';
import { createDocumentClient } from '../../../shared/store/dynamo';
import { TOO_MANY_REQUESTS_STATUS } from '../../helpers/statuses';

const config = loadConfig();
const doc = createDocumentClient(config);
const relayUrl = () => inject('stack').env.STRATUS_KUBELET_RELAY_URL!;

/** A fresh loopback address of this test's own (never 127.0.0.1, which the suite exempts). */
const newSource = (): string => `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;

interface Dial {
  /** 101 when the relay took the connection (closed again at once), else the refused handshake's status. */
  status: number;
  body?: any;
}

/** Dials the node side of `session` from `source` with `token`. */
function dialNode(source: string, session: string, token: string): Promise<Dial> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(relaySideUrl(relayUrl(), 'node', 'default', session), {
      ca: inject('stack').caCert,
      localAddress: source,
      headers: { authorization: `Bearer ${token}` },
      perMessageDeflate: false,
    });
    ws.once('open', () => {
      ws.close();
      resolve({ status: 101 });
    });
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    ws.on('error', (e) => (ws.readyState === WebSocket.CONNECTING ? reject(e) : undefined));
  });
}

const session = async (node: string) => (await openRelaySession(doc, config, 'default', node)).session;

describe('the kubelet relay and per-source budgets', () => {
  it('a brute force of bad node tokens from one address gets 429 after its budget; a known node still connects from it', async () => {
    // Prepare: a node whose token the relay has seen from this address
    const node = `relay-src-${process.pid}-${randomInt(1e6)}`;
    const token = await createNodeToken(doc, config, 'default', node);
    const source = newSource();
    expect((await dialNode(source, await session(node), token)).status).toBe(101);
    const target = await session(node);
    // Act: 30 guesses at once, wave after wave, until one is refused; then the node dials with
    // one more guess beside it, until that guess shows the address was refused meanwhile
    const answers: Dial[] = [];
    const wave = async () => answers.push(...(await Promise.all(Array.from({ length: 30 }, (_, i) => dialNode(source, target, `st_guess-${randomInt(1e9)}-${i}`)))));
    let during: { valid: Dial; guess: Dial } | undefined;
    for (let round = 0; round < 10 && !during; round++) {
      for (let w = 0; w < 10 && !answers.some((a) => a.status === 429); w++) await wave();
      const [valid, guess] = await Promise.all([dialNode(source, await session(node), token), dialNode(source, target, `st_guess-${randomInt(1e9)}`)]);
      if (guess.status === 429) during = { valid, guess };
      else answers.length = 0;
    }
    const elsewhere = await dialNode(newSource(), target, 'st_one-wrong-guess');
    // Assess
    const refused = answers.filter((a) => a.status === 429);
    expect(refused.length, `answers: ${answers.map((a) => a.status).join(',')}`).toBeGreaterThan(0);
    for (const a of answers.filter((x) => x.status !== 429)) expect(a.status).toBe(401);
    for (const r of refused)
      expect(r.body).toEqual(TOO_MANY_REQUESTS_STATUS);
    expect(during, 'the node never dialed while its address was refused').toBeDefined();
    expect(during!.valid.status, JSON.stringify(during!.valid.body)).toBe(101);
    expect(elsewhere.status).toBe(401);
  });
});
