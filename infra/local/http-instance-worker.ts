/**
 * One instance of an HTTP function (infra/local/http-instances.ts forks it): loads the handler
 * as the in-process runtime does, and serves, on its own event loop, the connections the parent
 * hands it (HTTPS, the Function URL event, streaming, WebSocket upgrades). Its log lines and audit
 * lines go to the parent; it stops when told to (or when the parent goes away).
 */
import type { Socket } from 'node:net';
import type { Server } from 'node:https';
import { loadConfig } from '../../shared/config';
import { flushCostNow } from '../../shared/cost/meter';
import { flushForwardedAudit } from '../../shared/audit';
import { attachUpgrades, createHttpFunctionServer, installAwsLambdaGlobals, Invoker, loadFunction, message, shutdownFunctions, STOP_GRACE_MS, type LoadedFunction } from './runtime';
import type { FromInstance, ToInstance } from './http-instances';

/** Response header naming the instance that served a request (pid too): local only, for tests and benches. */
export const INSTANCE_HEADER = 'x-stratus-local-instance';

const send = (m: FromInstance, cb?: () => void) => {
  if (process.connected) process.send!(m, undefined, {}, cb ? () => cb() : undefined);
  else cb?.();
};
const log = (line: string) => send({ type: 'log', line });

let server: Server | undefined;
let invoker: Invoker | undefined;
let loaded: LoadedFunction | undefined;
/**
 * The connections handed to this instance. The server never listens (the parent accepts), and
 * Node's HTTP server tracks connections only once listening, so its closeAllConnections() sees
 * none of these: stop() closes them itself, or open watches would hold the stop for
 * STOP_GRACE_MS and the instance would exit with their long-running slots still held.
 */
const sockets = new Set<Socket>();
let closeUpgrades: (() => void) | undefined;
let stopping: Promise<void> | undefined;

async function init(m: Extract<ToInstance, { type: 'init' }>): Promise<void> {
  installAwsLambdaGlobals();
  const config = loadConfig(process.env);
  invoker = new Invoker(config.region);
  const f = await loadFunction(m.wiring);
  loaded = f;
  const streaming = m.wiring.trigger.type === 'http' && m.wiring.trigger.streaming;
  const s = createHttpFunctionServer(f, streaming, m.tls, invoker, log);
  const id = `${m.instance}/${process.pid}`;
  s.prependListener('request', (_req, res) => res.setHeader(INSTANCE_HEADER, id));
  s.on('error', (err) => log(`[${m.wiring.name}#${m.instance}] server error: ${message(err)}`));
  closeUpgrades = await attachUpgrades(s, m.wiring.name, log);
  server = s;
}

async function stop(): Promise<void> {
  closeUpgrades?.();
  if (server) {
    const s = server;
    await new Promise<void>((r) => {
      s.close(() => r());
      // Open watches and keep-alive sockets would hold close() forever.
      s.closeAllConnections();
      for (const socket of sockets) socket.destroy();
    });
  }
  const left = (await invoker?.drain(STOP_GRACE_MS)) ?? 0;
  if (left) log(`local runtime instance ${process.pid}: ${left} invocation(s) still running after ${STOP_GRACE_MS} ms; not waiting longer`);
  // What this instance holds for the whole deployment (the api's long-running slots): given back now,
  // or a restarted stack would find them taken until they expire.
  if (loaded) await shutdownFunctions([loaded], STOP_GRACE_MS, log);
  await flushCostNow().catch((e: Error) => log(`local runtime instance ${process.pid}: cost meter flush failed: ${e.message}`));
  flushForwardedAudit();
}

process.on('message', (m: ToInstance, handle?: Socket) => {
  switch (m.type) {
    case 'init':
      init(m).then(
        () => send({ type: 'ready', pid: process.pid }),
        (err: unknown) => send({ type: 'failed', error: message(err) }, () => process.exit(1)),
      );
      break;
    case 'conn': {
      if (!handle) return;
      if (!server || stopping) {
        handle.destroy();
        send({ type: 'closed' });
        return;
      }
      sockets.add(handle);
      handle.once('close', () => {
        sockets.delete(handle);
        send({ type: 'closed' });
      });
      server.emit('connection', handle);
      break;
    }
    case 'stop':
      stopGracefully();
      break;
  }
});

function stopGracefully(): void {
  stopping ??= stop()
    .catch((err: unknown) => log(`local runtime instance ${process.pid}: stop failed: ${message(err)}`))
    .finally(() => send({ type: 'stopped' }, () => process.exit(0)));
}

// Ctrl-C in a terminal signals the whole process group, this instance too, before its parent
// has asked it to stop: stop as asked (connections closed, slots given back), not at once.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, stopGracefully);

// The parent gone (killed, or it exited without stopping us): nothing can reach this instance.
process.on('disconnect', () => {
  if (!stopping) process.exit(0);
});
