/**
 * How both sides of a kubelet relay session (shared/relay/api-side.ts, node-agent/kubelet-relay.ts)
 * carry bytes over the relay, which on AWS is an API Gateway WebSocket API:
 *
 *  - API Gateway refuses binary frames from a client (it closes the connection with 1003): every
 *    message is a text frame. Bytes travel base64 encoded, `d<seq>,<base64>`, each at most
 *    RELAY_CHUNK_BYTES before encoding, so a message (one frame: `ws` never fragments) stays
 *    under API Gateway's 32 KB frame limit.
 *  - Each message is one `$default` Lambda invocation and one PostToConnection, and nothing
 *    promises that two invocations finish in the order the messages came: each side numbers what
 *    it sends (0, 1, 2, ...) and the receiver puts the pieces back in order.
 *  - `ready` (a side to the relay, once connected) and `paired` (the relay to both sides, once
 *    both are ready) are the relay's own messages; `e<n>` and `a` end a session in band (below):
 *    to the relay they are data.
 *
 * What PostToConnection delivers is read as text whether the frame is text or binary.
 */
import { Duplex } from 'node:stream';
import { WebSocket, type RawData } from 'ws';
import { RELAY_PAIRED, type RelaySide } from './session';

/** Bytes per data message before base64: 4/3 of it plus the `d<seq>,` header fits in one 32 KB frame. */
export const RELAY_CHUNK_BYTES = 24_000;
/** Sent by each side once its connection is open. */
export const RELAY_READY = 'ready';
/** Out-of-order pieces a receiver holds before it gives up on the session. */
export const RELAY_REORDER_LIMIT = 1024;

/**
 * The URL a side dials: the relay's (on AWS the WebSocket API stage's `wss://ID.execute-api.REGION.amazonaws.com/STAGE`,
 * which routes no paths) with the side, cluster and session in the query string.
 */
export function relaySideUrl(base: string, side: RelaySide, tenant: string, session: string): string {
  const url = new URL(base);
  url.searchParams.set('side', side);
  url.searchParams.set('tenant', tenant);
  url.searchParams.set('session', session);
  return url.toString();
}

/** `data` as the data messages of sequence numbers `first`, `first + 1`, ... */
export function encodeDataMessages(data: Buffer, first: number, max = RELAY_CHUNK_BYTES): string[] {
  const out: string[] = [];
  for (let i = 0, seq = first; i < data.length; i += max, seq++) {
    out.push(`d${seq},${data.subarray(i, Math.min(data.length, i + max)).toString('base64')}`);
  }
  return out;
}

/** A data message's sequence number and bytes; undefined when it is not one. */
export function decodeDataMessage(text: string): { seq: number; bytes: Buffer } | undefined {
  const m = /^d(\d{1,15}),([A-Za-z0-9+/=]*)$/.exec(text);
  return m ? { seq: Number(m[1]), bytes: Buffer.from(m[2]!, 'base64') } : undefined;
}

/** Puts numbered pieces back in order: `accept` returns what can now be delivered, in order. */
export class Reorder {
  /** The sequence number delivered next: how many have been delivered. */
  next = 0;
  private readonly held = new Map<number, Buffer>();

  accept(seq: number, bytes: Buffer): Buffer[] {
    if (seq < this.next || this.held.has(seq)) throw new Error(`relay data message ${seq} repeated`);
    this.held.set(seq, bytes);
    if (this.held.size > RELAY_REORDER_LIMIT) throw new Error(`relay data message ${this.next} missing (${this.held.size} later ones held)`);
    const out: Buffer[] = [];
    for (let b = this.held.get(this.next); b !== undefined; b = this.held.get(this.next)) {
      out.push(b);
      this.held.delete(this.next++);
    }
    return out;
  }
}

const text = (data: RawData): string => (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer)).toString('utf8');

/** How long a side that ended its direction waits for the other to end and acknowledge before it closes anyway. */
export const RELAY_LINGER_MS = 15_000;

/**
 * Sends `ready` on an open relay WebSocket and resolves, once the relay answers `paired`, with a
 * byte stream over it: what is written goes out as numbered data messages, what comes in is put
 * back in order.
 *
 * Ending is in band, because the relay's closes overtake its data (a `$disconnect` closes the
 * peer at once, while `$default` invocations may still be posting to it): a side that ends its
 * direction sends `e<count of its data messages>`; the receiver ends its readable side once it has
 * all of them and answers `a`. A side closes the WebSocket once both directions are complete and
 * its own end was acknowledged (or RELAY_LINGER_MS after it ended), so nothing is in flight to it
 * or from it but that last `a`. Destroying the stream with an error closes at once.
 * Rejects on a close, the timeout, or anything but `paired` first.
 */
export function pairedRelayStream(ws: WebSocket, timeoutMs: number, describe: { timeout: () => string; closed: (code: number, reason: string) => string }): Promise<Duplex> {
  let seq = 0;
  let paired = false;
  let sentEnd = false;
  let gotAck = false;
  let peerEnd: number | undefined;
  let peerDone = false;
  let linger: NodeJS.Timeout | undefined;
  const reorder = new Reorder();
  const open = () => ws.readyState === WebSocket.OPEN;
  const maybeClose = () => {
    if (sentEnd && gotAck && peerDone && open()) ws.close(1000);
  };
  const sendEnd = () => {
    if (sentEnd) return;
    sentEnd = true;
    if (open()) ws.send(`e${seq}`);
    linger = setTimeout(() => (open() ? ws.close(1000) : undefined), RELAY_LINGER_MS);
    linger.unref();
    maybeClose();
  };
  const stream = new Duplex({
    read() {
      if (ws.isPaused) ws.resume();
    },
    write(chunk: Buffer, _enc, callback) {
      if (!open()) return callback(new Error('the relay session is closed'));
      const messages = encodeDataMessages(chunk, seq);
      seq += messages.length;
      if (messages.length === 0) return callback();
      let left = messages.length;
      let failed = false;
      for (const m of messages) {
        ws.send(m, { binary: false }, (e) => {
          if (failed) return;
          if (e) {
            failed = true;
            return callback(e);
          }
          if (--left === 0) callback();
        });
      }
    },
    final(callback) {
      sendEnd();
      callback();
    },
    destroy(err, callback) {
      if (err) {
        clearTimeout(linger);
        if (open() || ws.readyState === WebSocket.CONNECTING) ws.terminate();
      } else sendEnd();
      callback(err);
    },
  });
  stream.on('error', () => undefined);
  const deliver = (pieces: Buffer[]) => {
    for (const p of pieces) if (!stream.push(p)) ws.pause();
    if (peerEnd !== undefined && !peerDone && reorder.next === peerEnd) {
      peerDone = true;
      stream.push(null);
      if (open()) ws.send('a');
      maybeClose();
    }
  };
  return new Promise<Duplex>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(describe.timeout()));
      ws.terminate();
    }, timeoutMs);
    ws.on('message', (data: RawData) => {
      const t = text(data);
      if (!paired) {
        clearTimeout(timer);
        if (t !== RELAY_PAIRED) {
          reject(new Error('the kubelet relay sent bytes before pairing the session'));
          return void ws.terminate();
        }
        paired = true;
        return resolve(stream);
      }
      if (t === 'a') {
        gotAck = true;
        return maybeClose();
      }
      const end = /^e(\d{1,15})$/.exec(t);
      if (end) {
        peerEnd = Number(end[1]);
        return deliver([]);
      }
      const msg = decodeDataMessage(t);
      if (!msg) return void stream.destroy(new Error('the relay sent a message that is not data'));
      try {
        deliver(reorder.accept(msg.seq, msg.bytes));
      } catch (e) {
        stream.destroy(e as Error);
      }
    });
    ws.once('close', (code: number, reason: Buffer) => {
      clearTimeout(timer);
      clearTimeout(linger);
      if (!paired) return reject(new Error(describe.closed(code, reason.toString())));
      if (!peerDone) stream.push(null);
      if (!stream.writableEnded) stream.destroy();
    });
    ws.on('error', (e) => (paired ? stream.destroy(e) : undefined));
    ws.send(RELAY_READY);
  });
}
