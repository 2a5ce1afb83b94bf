/**
 * What one request costs the api handler when refused by the rate limit (429) and when admitted
 * (a GET of one ConfigMap, 200): `npm run bench:fairness -- --handler-cost`. The handler
 * (functions/api/handler.ts: middy, the streamed response, router, authentication from its cache,
 * the limiter, the audit event into a file) is called IN THIS PROCESS as the Lambda runtime calls
 * it (as bench/api-cost.ts does), against DynamoDB Local (another process); no local stack, so no
 * stream consumer's CPU is counted, and no HTTPS: the front's TLS and HTTP parsing are not in
 * these figures (the fairness run's "server µs per flood request" has them).
 *
 * Sequential requests in alternating blocks (refused, admitted), each block charged with this
 * process's CPU time (process.cpuUsage(): robust on a shared machine, where other processes
 * stretch wall time, not our CPU time); the median block per kind is reported.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { LOCAL_REGION } from '../infra/local/dynamodb';
import { functionUrlEvent, installAwsLambdaGlobals, makeContext } from '../infra/local/runtime';
import { createTenantTokens } from '../infra/local/stack';
import { wiring } from '../infra/wiring';
import { pct, startBenchDynamoDB } from './lib';

type StreamingHandler = (event: APIGatewayProxyEventV2, stream: Writable, context: Context) => Promise<void>;

const BLOCK = Number(process.env.BENCH_BLOCK ?? 500);
const BLOCKS = Number(process.env.BENCH_BLOCKS ?? 6);

export async function handlerCost(progress: (s: string) => void): Promise<void> {
  const auditDir = mkdtempSync(join(tmpdir(), 'stratus-bench-fairness-audit-'));
  process.env.STRATUS_AUDIT_LOG = join(auditDir, 'audit.log');
  // As the local stack runs the handlers: metrics not printed (their stdout lines would be counted).
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  const { ddb, config } = await startBenchDynamoDB(progress);
  try {
    installAwsLambdaGlobals();
    const api = await import('../functions/api/handler');
    const handler = api.handler as unknown as StreamingHandler;
    const deps = api.getDeps();
    const apiRow = wiring.find((w) => w.name === 'api')!;
    const tenant = async (name: string, limit: number) => {
      const { adminToken } = await createTenantTokens(deps.doc, deps.config, name);
      await deps.doc.send(
        new UpdateCommand({ TableName: config.objectsTable, Key: { pk: '~clusters', sk: name }, UpdateExpression: 'SET rateLimit = :n, userRateLimit = :n', ExpressionAttributeValues: { ':n': limit } }),
      );
      return adminToken;
    };
    // The noisy tenant may make 1 request a second: nearly every request of a block is refused.
    const noisy = await tenant('noisy', 1);
    const quiet = await tenant('quiet', 0);
    const event = (cluster: string, token: string, method: string, path: string, body?: unknown) => {
      const bytes = body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body));
      const headers: Record<string, string> = {
        host: 'localapi.lambda-url.us-east-1.on.aws',
        authorization: `Bearer ${token}`,
        accept: 'application/json',
        'user-agent': 'kubectl/v1.32.0 (linux/amd64) kubernetes/0000000',
        ...(bytes.length ? { 'content-type': 'application/json', 'content-length': String(bytes.length) } : {}),
      };
      return functionUrlEvent(
        { url: `/clusters/${cluster}${path}`, method, httpVersion: '1.1', headersDistinct: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])), socket: { remoteAddress: '127.0.0.1' } },
        bytes,
        'localapi',
      );
    };
    const send = async (e: APIGatewayProxyEventV2): Promise<number> => {
      const chunks: Buffer[] = [];
      const sink = new Writable({
        write(chunk: Buffer, _enc, cb) {
          chunks.push(chunk);
          cb();
        },
      });
      await handler(e, sink, makeContext(apiRow, LOCAL_REGION, Date.now() + 900_000));
      const bytes = Buffer.concat(chunks);
      return (JSON.parse(bytes.subarray(0, bytes.indexOf(Buffer.alloc(8))).toString('utf8')) as { statusCode: number }).statusCode;
    };
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'probe' }, data: { k: 'v' } };
    if ((await send(event('quiet', quiet, 'POST', '/api/v1/namespaces/default/configmaps', cm))) !== 201) throw new Error('configmap not created');
    const kinds = {
      refused: () => send(event('noisy', noisy, 'GET', '/api/v1/namespaces/default/configmaps/probe')),
      admitted: () => send(event('quiet', quiet, 'GET', '/api/v1/namespaces/default/configmaps/probe')),
    };
    const results: Record<keyof typeof kinds, { cpuUs: number[]; wallMs: number[]; codes: Record<number, number> }> = {
      refused: { cpuUs: [], wallMs: [], codes: {} },
      admitted: { cpuUs: [], wallMs: [], codes: {} },
    };
    for (const f of Object.values(kinds)) for (let i = 0; i < 300; i++) await f();
    for (let b = 0; b < BLOCKS; b++) {
      for (const [kind, f] of Object.entries(kinds) as [keyof typeof kinds, () => Promise<number>][]) {
        const r = results[kind];
        const c0 = process.cpuUsage();
        for (let i = 0; i < BLOCK; i++) {
          const t0 = performance.now();
          const code = await f();
          r.wallMs.push(performance.now() - t0);
          r.codes[code] = (r.codes[code] ?? 0) + 1;
        }
        const c = process.cpuUsage(c0);
        r.cpuUs.push((c.user + c.system) / BLOCK);
      }
      progress(`block ${b + 1}/${BLOCKS}`);
    }
    console.log(`api handler alone (no HTTPS front), ${BLOCKS} blocks of ${BLOCK} sequential requests per kind; load average ${loadavg().map((x) => x.toFixed(1)).join(' / ')}\n`);
    console.log('| request | answers | CPU µs per request (median block) | wall p50 ms | wall p99 ms |');
    console.log('|---|---|---:|---:|---:|');
    for (const [kind, r] of Object.entries(results)) {
      console.log(`| ${kind === 'refused' ? 'refused GET (limit 1 req/s; the few admitted find no object: 404)' : 'admitted GET (200)'} | ${Object.entries(r.codes).map(([c, n]) => `${n}× ${c}`).join(', ')} | ${pct(r.cpuUs, 50).toFixed(0)} | ${pct(r.wallMs, 50).toFixed(2)} | ${pct(r.wallMs, 99).toFixed(2)} |`);
    }
  } finally {
    await ddb.stop();
    rmSync(auditDir, { recursive: true, force: true });
  }
}
