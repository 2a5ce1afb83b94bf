/**
 * The node side of the kubelet relay (docs/exec.md; shared/relay/session.ts has the protocol):
 * an agent in relay mode opens no listening kubelet port. When its own queue says "open relay
 * session S" it dials out to the relay as the node side of S with its own node credential, waits
 * until the relay has paired it with the API side, and hands the stream to its kubelet server as
 * a connection: the mutual TLS handshake and everything above it (logs, exec, attach,
 * port-forward, pod proxy, stats) are those of the direct path.
 */
import { WebSocket } from 'ws';
import { pairedRelayStream, relaySideUrl } from '../shared/relay/frames';
import { RELAY_PAIR_TIMEOUT_MS, type RelaySessionMessage } from '../shared/relay/session';
import type { KubeletServer } from './kubelet-server';
import type { Logger } from './log';

export interface KubeletRelayClientOptions {
  /** wss://host:port of the relay (the agent's --relay-url, never a queue message's: the node's token goes there). */
  readonly url: string;
  readonly tenant: string;
  /** The node's own credential (system:node:NAME). */
  readonly token: () => string;
  /** PEM of the CA the relay's certificate chains to, when not a public one. */
  readonly ca?: string;
  readonly server: KubeletServer;
  readonly log: Logger;
}

export class KubeletRelayClient {
  private readonly open = new Set<WebSocket>();

  constructor(private readonly opts: KubeletRelayClientOptions) {}

  /** Dials the node side of the session; resolves once paired and handed to the kubelet server. */
  async serve(msg: RelaySessionMessage): Promise<void> {
    if (msg.tenant !== this.opts.tenant) throw new Error(`relay session of another cluster (${msg.tenant}) ignored`);
    const ws = new WebSocket(relaySideUrl(this.opts.url, 'node', msg.tenant, msg.session), {
      headers: { authorization: `Bearer ${this.opts.token()}` },
      perMessageDeflate: false,
      handshakeTimeout: RELAY_PAIR_TIMEOUT_MS,
      ...(this.opts.ca ? { ca: this.opts.ca } : {}),
    });
    ws.on('error', () => undefined);
    this.open.add(ws);
    ws.once('close', () => this.open.delete(ws));
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('unexpected-response', (_req, res) => reject(new Error(`the relay refused the node side of the session: ${res.statusCode} ${res.statusMessage ?? ''}`.trim())));
        ws.once('error', reject);
      });
      const stream = await pairedRelayStream(ws, RELAY_PAIR_TIMEOUT_MS + 1000, {
        timeout: () => 'the relay did not pair the session in time',
        closed: (code, reason) => `the relay closed the session before pairing it (${code} ${reason})`,
      });
      this.opts.server.acceptConnection(stream);
    } catch (e) {
      ws.terminate();
      throw e;
    }
  }

  /** Ends every open session. */
  close(): void {
    for (const ws of this.open) ws.terminate();
  }
}
