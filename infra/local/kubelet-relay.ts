/**
 * The local kubelet relay (docs/exec.md, "every API → agent call through the outbound relay"):
 * the AWS relay's own handler (functions/relay/handler.ts, the `kubelet-relay` wiring row) behind
 * a local API Gateway WebSocket API (infra/local/apigw-websocket.ts), one per local stack, on
 * 127.0.0.1 with the stack's serving certificate:
 *
 *   wss://127.0.0.1:PORT/local?side=api&tenant=T&session=S    Authorization: Bearer <the session's API key>
 *   wss://127.0.0.1:PORT/local?side=node&tenant=T&session=S   Authorization: Bearer <the node's own token>
 *
 * Nothing of the relay's logic lives here: admission, pairing and copying are the handler's, the
 * connections and events API Gateway's (as emulated).
 */
import { ApiGatewayManagementApiClient, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../../shared/config';
import { decodeDataMessage } from '../../shared/relay/frames';
import { RELAY_PAIRED } from '../../shared/relay/session';
import { relayHandler } from '../../functions/relay/handler';
import { startApiGatewayWebSocket } from './apigw-websocket';

export interface KubeletRelay {
  /** wss://127.0.0.1:PORT/local */
  readonly url: string;
  /** Since start: sessions paired and sides refused, messages relayed (frames: each a `$default` invocation on AWS) and the bytes of data they carry (bench/kubelet-relay.ts counts cost from them). */
  readonly stats: RelayStats;
  close(): Promise<void>;
}

export interface RelayStats {
  paired: number;
  refused: number;
  frames: number;
  bytes: number;
}

export async function startKubeletRelay(opts: { doc: DynamoDBDocumentClient; config: Config; tls: { key: string; cert: string }; port?: number; log: (s: string) => void }): Promise<KubeletRelay> {
  const counts = { pairedPosts: 0, frames: 0, bytes: 0 };
  let endpoint = '';
  const handler = relayHandler({
    doc: opts.doc,
    config: opts.config,
    // The emulator's management API: plain HTTP on 127.0.0.1, any credentials (the SDK signs).
    management: (e) => {
      const client = new ApiGatewayManagementApiClient({ region: opts.config.region, endpoint: e, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
      return {
        send: ((command: PostToConnectionCommand) => {
          const data = command instanceof PostToConnectionCommand ? command.input.Data : undefined;
          if (data instanceof Uint8Array && Buffer.from(data).toString() === RELAY_PAIRED) counts.pairedPosts++;
          return client.send(command);
        }) as ApiGatewayManagementApiClient['send'],
      };
    },
    get endpoint() {
      return endpoint;
    },
    log: opts.log,
  });
  const apigw = await startApiGatewayWebSocket({
    handler,
    tls: opts.tls,
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    onMessage: (_id, body) => {
      counts.frames++;
      counts.bytes += decodeDataMessage(body)?.bytes.length ?? 0;
    },
    log: opts.log,
  });
  endpoint = apigw.managementEndpoint;
  return {
    url: apigw.url,
    get stats(): RelayStats {
      return { paired: Math.floor(counts.pairedPosts / 2), refused: apigw.stats.refused, frames: counts.frames, bytes: counts.bytes };
    },
    close: () => apigw.close(),
  };
}
