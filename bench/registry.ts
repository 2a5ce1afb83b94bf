/**
 * What the registry library (shared/registry/generic.ts) costs over the I/O beneath it (issue #14;
 * run by hand: `npm run bench:registry`; figures go to BENCHMARKS.md). Never a test assertion.
 *
 * In one process, against one DynamoDB Local (started alone, as bench/api-cost.ts does: no stack,
 * no stream consumers whose CPU would count as ours), for ConfigMaps and Pods (both sequenced
 * kinds), get, create, list and update are each done three ways, interleaved op by op so that
 * load from other work on the machine falls on all three alike:
 *   raw       the DynamoDB calls of equal effect, sent with the low-level client and payloads
 *             encoded beforehand (no store, no codec): the I/O floor.
 *               get     GetItem (ConsistentRead)
 *               list    Query of the namespace's items (ConsistentRead); no watermark read
 *               create  UpdateItem (version reservation) + TransactWriteItems (object + log entry)
 *               update  GetItem + UpdateItem (reservation) + TransactWriteItems (object + log
 *                       entry), as the store's own read-then-conditional-write makes them
 *   store     ObjectStore (shared/store): get, list (with its watermark read), create, and
 *             update as get + update (the store reuses the item it read), of the object the
 *             registry would write (the admitted object, renamed).
 *   registry  getObject, listObjects, createObject, updateObject with a fresh RegistryContext per
 *             op (as the api function makes one per request) and a field manager (as every API
 *             write names one, so managedFields are recorded): decode, defaults, admission,
 *             validation, managedFields, then the store.
 * Each op is timed (wall ms: p50/p99) and charged with this process's CPU time
 * (process.cpuUsage: user + system, GC included; DynamoDB Local's CPU is not ours), and its
 * DynamoDB calls are counted with a middleware on both clients. The CPU the registry adds per op
 * is registry − store; the CPU figure is the robust one on a shared machine.
 * Progress goes to stderr, the table (markdown) to stdout.
 */
import { cpus, loadavg } from 'node:os';
import { DynamoDBClient, GetItemCommand, QueryCommand, TransactWriteItemsCommand, UpdateItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { Command, InvalidArgumentError } from 'commander';
import type { Config } from '../shared/config';
import { createObject, getObject, listObjects, updateObject } from '../shared/registry/generic';
import type { RegistryContext, Target } from '../shared/registry/context';
import { namespaceOf } from '../shared/registry/plugins/namespace-lifecycle';
import { resourceByName, type KubeObject, type ResourceType } from '../shared/resources';
import { encodeObject } from '../shared/store/codec';
import { createDocumentClient } from '../shared/store/dynamo';
import { pad } from '../shared/store/keys';
import { ObjectStore } from '../shared/store/store';
import { pct, startBenchDynamoDB } from './lib';

const progress = (s: string) => process.stderr.write(`[registry ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

interface Options {
  ops: number;
  lists: number;
  warmup: number;
}

const OPS = ['get', 'create', 'list', 'update'] as const;
type Op = (typeof OPS)[number];
const WAYS = ['raw', 'store', 'registry'] as const;
type Way = (typeof WAYS)[number];
const NAMESPACE = 'default';
/** The list's page size, as a client asking for up to 500 (kubectl's chunk size) sends it. */
const LIST_LIMIT = 500;

/** One way of doing the four ops in one space (a tenant, or a raw partition). */
interface Doer {
  create(name: string): Promise<void>;
  get(name: string): Promise<void>;
  list(): Promise<number>;
  update(name: string, i: number): Promise<void>;
}

/** The bodies a client sends, as kubectl would (the registry decodes, defaults and admits them). */
function body(kind: 'configmaps' | 'pods', name: string): Record<string, unknown> {
  const metadata = { name, namespace: NAMESPACE, labels: { app: 'bench', tier: 'web' } };
  if (kind === 'configmaps')
    return { apiVersion: 'v1', kind: 'ConfigMap', metadata, data: { 'app.properties': 'color=blue\nsize=large\n'.repeat(10), mode: 'production' } };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata,
    spec: {
      containers: [
        {
          name: 'web',
          image: 'stratus-test/busybox:1.36',
          command: ['httpd', '-f', '-p', '8080'],
          ports: [{ containerPort: 8080 }],
          env: [{ name: 'MODE', value: 'production' }],
          resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '128Mi' } },
        },
      ],
    },
  };
}

const renamed = (obj: KubeObject, name: string): KubeObject => ({ ...obj, metadata: { ...obj.metadata, name } });
const relabelled = (obj: KubeObject, i: number): KubeObject => ({ ...obj, metadata: { ...obj.metadata, labels: { ...obj.metadata.labels, rev: String(i) } } });

/** The registry's way: what the api function calls for GET, POST, LIST and PUT. */
function registryDoer(store: ObjectStore, tenant: string, rt: ResourceType, kind: 'configmaps' | 'pods'): Doer {
  // A fresh context per op, as the api function makes one per request (admission memos live in it).
  const ctx = (): RegistryContext => ({ store, tenant, user: { username: 'bench-admin', groups: ['system:masters', 'system:authenticated'] }, memo: new Map() });
  const one = (name: string): Target => ({ rt, namespace: NAMESPACE, name });
  const last = new Map<string, KubeObject>();
  return {
    async create(name) {
      last.set(name, (await createObject(ctx(), { rt, namespace: NAMESPACE }, body(kind, name), { manager: 'kubectl-create' })).object);
    },
    async get(name) {
      await getObject(ctx(), one(name));
    },
    async list() {
      return (await listObjects(ctx(), { rt, namespace: NAMESPACE }, { limit: String(LIST_LIMIT) })).items.length;
    },
    async update(name, i) {
      // kubectl replace: the object as read, changed, with its resourceVersion (a conditional update).
      last.set(name, (await updateObject(ctx(), one(name), relabelled(last.get(name)!, i), { manager: 'kubectl-replace' })).object);
    },
  };
}

/** The store's way, writing the object the registry would write. */
function storeDoer(store: ObjectStore, tenant: string, rt: ResourceType, admitted: KubeObject): Doer {
  return {
    async create(name) {
      await store.create(tenant, rt, renamed(admitted, name));
    },
    async get(name) {
      await store.get(tenant, rt, NAMESPACE, name);
    },
    async list() {
      return (await store.list(tenant, rt, { namespace: NAMESPACE, limit: LIST_LIMIT })).items.length;
    },
    async update(name, i) {
      // Read, then the conditional write, as the registry's update does (the store reuses the item it read).
      const old = (await store.get(tenant, rt, NAMESPACE, name))!;
      await store.update(tenant, rt, relabelled(old, i), old.metadata.resourceVersion!);
    },
  };
}

/**
 * The raw way: the store's DynamoDB calls with the low-level client and payloads encoded once
 * (the object as stored, and its log entry), in a partition of its own.
 */
function rawDoer(ddb: DynamoDBClient, config: Config, pk: string, stored: KubeObject): Doer {
  const o: AttributeValue = { B: encodeObject(stored) };
  const rvs = new Map<string, number>();
  const key = (name: string) => ({ pk: { S: pk }, sk: { S: `${NAMESPACE}/${name}` } });
  const reserve = async () => {
    const out = await ddb.send(
      new UpdateItemCommand({
        TableName: config.changesTable,
        Key: { pk: { S: pk }, sk: { S: '~seq' } },
        UpdateExpression: 'ADD v :one',
        ExpressionAttributeValues: { ':one': { N: '1' } },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(out.Attributes!.v!.N);
  };
  const logPut = (rv: number, type: string) => ({
    Put: {
      TableName: config.changesTable,
      Item: { pk: { S: pk }, sk: { S: pad(rv) }, type: { S: type }, o, ttl: { N: String(Math.floor(Date.now() / 1000) + 3600) } },
      ConditionExpression: 'attribute_not_exists(sk)',
    },
  });
  const getItem = (name: string) => ddb.send(new GetItemCommand({ TableName: config.objectsTable, Key: key(name), ConsistentRead: true }));
  return {
    async create(name) {
      const rv = await reserve();
      await ddb.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            { Put: { TableName: config.objectsTable, Item: { ...key(name), o, rv: { N: String(rv) } }, ConditionExpression: 'attribute_not_exists(pk)' } },
            logPut(rv, 'ADDED'),
          ],
        }),
      );
      rvs.set(name, rv);
    },
    async get(name) {
      await getItem(name);
    },
    async list() {
      let n = 0;
      let start: Record<string, AttributeValue> | undefined;
      do {
        const out = await ddb.send(
          new QueryCommand({
            TableName: config.objectsTable,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
            ExpressionAttributeValues: { ':pk': { S: pk }, ':prefix': { S: `${NAMESPACE}/` } },
            ExclusiveStartKey: start,
            ConsistentRead: true,
          }),
        );
        n += out.Items?.length ?? 0;
        start = out.LastEvaluatedKey;
      } while (start);
      return n;
    },
    async update(name) {
      await getItem(name);
      const expected = rvs.get(name)!;
      const rv = await reserve();
      await ddb.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            {
              Update: {
                TableName: config.objectsTable,
                Key: key(name),
                UpdateExpression: 'SET o = :o, rv = :rv',
                ConditionExpression: 'rv = :expected',
                ExpressionAttributeValues: { ':o': o, ':rv': { N: String(rv) }, ':expected': { N: String(expected) } },
              },
            },
            logPut(rv, 'MODIFIED'),
          ],
        }),
      );
      rvs.set(name, rv);
    },
  };
}

interface Sample {
  ms: number[];
  cpuUs: number;
  calls: number;
}

/** Counts the DynamoDB calls a client sends while `counter.on`. */
function countCalls(client: { middlewareStack: DynamoDBClient['middlewareStack'] }, counter: { on: boolean; n: number }): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      if (counter.on) counter.n++;
      return next(args);
    },
    { step: 'initialize', name: 'benchCallCounter' },
  );
}

async function main(opts: Options): Promise<void> {
  const started = Date.now();
  progress(`starting DynamoDB Local (the only other process); ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const { ddb: local, config } = await startBenchDynamoDB(progress);
  const counter = { on: false, n: 0 };
  const doc = createDocumentClient(config);
  const raw = new DynamoDBClient({ region: config.region, maxAttempts: 5 });
  countCalls(doc, counter);
  countCalls(raw, counter);
  const store = new ObjectStore(doc, config);
  const results = new Map<string, Sample>();
  try {
    for (const kind of ['configmaps', 'pods'] as const) {
      const rt = resourceByName(kind);
      // The object the registry writes (decoded, defaulted, admitted, managedFields), for the
      // store's and the raw way's writes: equal payloads.
      const admitted = (await createObject({ store, tenant: 'bench-template', memo: new Map() }, { rt, namespace: NAMESPACE }, body(kind, 'template'), { dryRun: true, manager: 'kubectl-create' })).object;
      const stored = { ...admitted, metadata: { ...admitted.metadata, uid: '00000000-0000-0000-0000-000000000000', creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), generation: 1, resourceVersion: '1' } };
      const doers = (space: string): Record<Way, Doer> => ({
        raw: rawDoer(raw, config, `${space}-raw#${kind}`, stored),
        store: storeDoer(store, `${space}-store`, rt, admitted),
        registry: registryDoer(store, `${space}-registry`, rt, kind),
      });

      // Warm-up: every op every way (JIT, SDK clients, connections, DynamoDB Local's own JIT).
      progress(`${kind}: warm-up, ${opts.warmup} of each op each way`);
      const warm = doers('warm');
      for (let i = 0; i < opts.warmup; i++)
        for (const way of WAYS) {
          const name = `w${i}`;
          await warm[way].create(name);
          await warm[way].get(name);
          await warm[way].update(name, i);
          await warm[way].list();
        }

      const run = doers('bench');
      // The registry tenants' built-in namespace is made on first use: not in the first timed create.
      await namespaceOf({ store, tenant: 'bench-registry' }, NAMESPACE);
      const time = async (way: Way, op: Op, fn: () => Promise<unknown>) => {
        const key = `${kind} ${op} ${way}`;
        const s = results.get(key) ?? { ms: [], cpuUs: 0, calls: 0 };
        results.set(key, s);
        counter.n = 0;
        counter.on = true;
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await fn();
        const ms = performance.now() - t0;
        const c = process.cpuUsage(c0);
        counter.on = false;
        s.ms.push(ms);
        s.cpuUs += c.user + c.system;
        s.calls += counter.n;
      };
      const name = (i: number) => `o${String(i).padStart(4, '0')}`;
      // Interleaved, op by op: raw, store, registry, raw, ... (and rotated, so none always goes first).
      const each = async (n: number, op: Op, fn: (d: Doer, i: number) => Promise<unknown>) => {
        progress(`${kind}: ${op}, ${n} each way`);
        for (let i = 0; i < n; i++)
          for (let k = 0; k < WAYS.length; k++) {
            const way = WAYS[(i + k) % WAYS.length]!;
            await time(way, op, () => fn(run[way], i));
          }
      };
      await each(opts.ops, 'create', (d, i) => d.create(name(i)));
      await each(opts.ops, 'get', (d, i) => d.get(name(i)));
      await each(opts.ops, 'update', (d, i) => d.update(name(i), i));
      await each(opts.lists, 'list', async (d) => {
        const n = await d.list();
        if (n !== opts.ops) throw new Error(`a list returned ${n} items, not ${opts.ops}`);
      });
    }
  } finally {
    doc.destroy();
    raw.destroy();
    await local.stop();
  }

  const f = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const lines = [
    `${opts.ops} objects per kind and way; ${opts.ops} creates, gets and updates and ${opts.lists} lists (${opts.ops} items, limit ${LIST_LIMIT}) each way; warm-up ${opts.warmup}.`,
    '',
    '| kind | op | DynamoDB calls/op raw · store · registry | raw p50 / p99 ms | store p50 / p99 ms | registry p50 / p99 ms | registry/raw p50 (p99) | registry/store p50 (p99) | CPU µs/op raw · store · registry | CPU the registry adds, µs/op |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const kind of ['configmaps', 'pods'])
    for (const op of OPS) {
      const s = Object.fromEntries(WAYS.map((w) => [w, results.get(`${kind} ${op} ${w}`)!])) as Record<Way, Sample>;
      const p = (w: Way, q: number) => pct(s[w].ms, q);
      const cpu = (w: Way) => s[w].cpuUs / s[w].ms.length;
      const calls = (w: Way) => (s[w].calls / s[w].ms.length).toFixed(1);
      lines.push(
        `| ${kind} | ${op} | ${calls('raw')} · ${calls('store')} · ${calls('registry')} | ${f(p('raw', 50))} / ${f(p('raw', 99))} | ${f(p('store', 50))} / ${f(p('store', 99))} | ${f(p('registry', 50))} / ${f(p('registry', 99))} | ` +
          `${(p('registry', 50) / p('raw', 50)).toFixed(2)} (${(p('registry', 99) / p('raw', 99)).toFixed(2)}) | ${(p('registry', 50) / p('store', 50)).toFixed(2)} (${(p('registry', 99) / p('store', 99)).toFixed(2)}) | ` +
          `${cpu('raw').toFixed(0)} · ${cpu('store').toFixed(0)} · ${cpu('registry').toFixed(0)} | ${(cpu('registry') - cpu('store')).toFixed(0)} |`,
      );
    }
  lines.push('', `Run took ${((Date.now() - started) / 1000).toFixed(0)} s; load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}.`);
  console.log(lines.join('\n'));
}

const positive = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer`);
  return n;
};

const program = new Command('bench:registry')
  .description(
    'Measures what the registry library (getObject, createObject, listObjects, updateObject) costs over the store and over the raw DynamoDB calls beneath it, ' +
      'for ConfigMaps and Pods, in one process against DynamoDB Local: p50/p99 wall ms, CPU µs per op and DynamoDB calls per op, the three ways interleaved. ' +
      'Prints a markdown table on stdout, progress on stderr.',
  )
  .option('-n, --ops <n>', 'objects created (then read and updated) per kind and way; the lists return this many', positive('ops'), 100)
  .option('-l, --lists <n>', 'lists per kind and way', positive('lists'), 30)
  .option('-w, --warmup <n>', 'warm-up rounds (create, get, update, list) per kind and way', positive('warmup'), 30)
  .action(async (o: Options) => main(o));

program.parseAsync(process.argv).then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
