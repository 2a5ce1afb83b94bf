/**
 * The SQS side of the local stack: fauxqs, an SQS-compatible emulator, in this process.
 * Clients reach it through @aws-sdk/client-sqs with AWS_ENDPOINT_URL_SQS.
 *
 * It listens on 127.0.0.1 only: fauxqs' startFauxqs() hard-codes 0.0.0.0 (any pod on the host's
 * Docker bridge could read or delete every node's placements), so the app is built with its
 * buildApp() and listened on here. Its state is in memory; queues are made again at every start
 * (each node agent creates its own queue when it starts).
 */
import type { Server } from 'node:http';
import { buildApp } from 'fauxqs';

/** What we use of the Fastify app fauxqs builds (its types name Fastify's, which we do not load). */
interface EmulatorApp {
  listen(opts: { port: number; host: string }): Promise<string>;
  close(): Promise<unknown>;
  readonly server: Server;
}

export interface LocalSqs {
  /** http://127.0.0.1:PORT; queue URLs it hands out follow the request's Host, so the same. */
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts the emulator on a free port of 127.0.0.1 (or `port`). */
export async function startSqs(opts: { port?: number } = {}): Promise<LocalSqs> {
  const app = buildApp({ logger: false }) as unknown as EmulatorApp;
  await app.listen({ port: opts.port ?? 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  if (!port) {
    await app.close();
    throw new Error('the SQS emulator did not report its port');
  }
  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    stop: () => (stopped ??= app.close().then(() => undefined)),
  };
}
