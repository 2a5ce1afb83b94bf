import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../../shared/config';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startDynamoDBLocal, type DynamoDBLocal } from '../../infra/local/dynamodb';
import { startLocalRuntime, type LocalRuntime } from '../../infra/local/runtime';
import { makeCertificates } from '../../infra/local/stack';
import { createTables } from '../../infra/local/tables';
import type { FunctionWiring } from '../../infra/wiring';

export interface FixtureRuntime {
  readonly ddb: DynamoDBLocal;
  readonly runtime: LocalRuntime;
  readonly doc: DynamoDBDocumentClient;
  /** The CA that signed the runtime's HTTPS certificate. */
  readonly caCert: string;
  stop(): Promise<void>;
}

/**
 * The local runtime playing a test's own wiring rows (fixture handlers) over its own DynamoDB
 * Local and tables, for tests of the runtime itself; `log` receives the runtime's lines.
 */
export async function startFixtureRuntime(config: Config, wiring: readonly FunctionWiring[], log: (line: string) => void, httpInstances = 0): Promise<FixtureRuntime> {
  const ddb = await startDynamoDBLocal();
  await createTables(config, ddb.endpoint);
  const certs = await makeCertificates();
  const runtime = await startLocalRuntime({
    wiring,
    env: {
      AWS_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB_STREAMS: ddb.endpoint,
      STRATUS_OBJECTS_TABLE: config.objectsTable,
      STRATUS_CHANGES_TABLE: config.changesTable,
    },
    tls: { key: certs.key, cert: certs.cert },
    log,
    // 0 (the default here): in this process, where the fixtures' state (globalThis) is what the tests read.
    httpInstances,
  });
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: ddb.endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS }));
  return {
    ddb,
    runtime,
    doc,
    caCert: certs.caCert,
    async stop() {
      doc.destroy();
      await runtime.stop();
      await ddb.stop();
    },
  };
}
