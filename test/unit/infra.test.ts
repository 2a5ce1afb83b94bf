/**
 * The CDK app, synthesised offline and asserted with aws-cdk-lib/assertions. Functions get inline
 * code (`codeFor`), so nothing is bundled here; `npx cdk synth` exercises the esbuild path.
 * Resources are found by what they are (type, properties, references), never by logical ID.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../infra/constructs';
import { bundlingOptions, defaultAccess, scheduleRateMinutes } from '../../infra/defaults';
import { StratusStack, type StratusStackProps } from '../../infra/stack';
import { tables } from '../../infra/tables';
import { wiring, type FunctionWiring } from '../../infra/wiring';
import { nodeQueueClusterPrefix } from '../../shared/config';

// The feature flags `cdk synth` uses, so the template asserted is the template deployed.
const cdkContext = (JSON.parse(readFileSync(join(repoRoot, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> })
  .context;

// The node fleet and its agent bundle are tested in infra-operations.test.ts.
function synth(props: StratusStackProps = {}): { stack: StratusStack; template: Template } {
  const app = new App({ context: cdkContext });
  const stack = new StratusStack(app, 'StratusTest', {
    codeFor: () => lambda.Code.fromInline('export const handler = async () => undefined;'),
    nodeFleet: false,
    ...props,
  });
  return { stack, template: Template.fromStack(stack) };
}

type Json = Record<string, unknown>;
interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

const actionsOf = (s: Statement): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const resourcesOf = (s: Statement): unknown[] => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]);

/** Every statement of every identity policy (inline and managed) in the template. */
function allStatements(template: Template): Statement[] {
  const policies = {
    ...template.findResources('AWS::IAM::Policy'),
    ...template.findResources('AWS::IAM::ManagedPolicy'),
  };
  return Object.values(policies).flatMap(
    (p) => (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement,
  );
}

/** The Lambda function of a wiring row: found by its description, which names the row and entry. */
function functionOf(template: Template, w: FunctionWiring): [string, Json] {
  const found = Object.entries(
    template.findResources('AWS::Lambda::Function', {
      Properties: { Description: Match.stringLikeRegexp(`^Stratus ${w.name} \\(${w.entry} `) },
    }),
  );
  expect(found, `one function for wiring row ${w.name}`).toHaveLength(1);
  return found[0] as [string, Json];
}

/** The statements of the inline policies on a wiring row's execution role (followed by reference). */
function statementsOf(template: Template, w: FunctionWiring): Statement[] {
  const [, fn] = functionOf(template, w);
  const roleId = ((fn.Properties as Json).Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  const policies = template.findResources('AWS::IAM::Policy', {
    Properties: { Roles: Match.arrayWith([{ Ref: roleId }]) },
  });
  return Object.values(policies).flatMap(
    (p) => (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement,
  );
}

/** A `Fn::Join` ARN that ends with `:${suffix}` (the queue prefix pattern), as a string. */
function joinedArn(resource: unknown): string | undefined {
  const join = (resource as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (!join) return typeof resource === 'string' ? resource : undefined;
  return join[1].map((part) => (typeof part === 'string' ? part : '${token}')).join(join[0]);
}

const streamRows = wiring.filter((w) => w.trigger.type === 'stream');
const queueRows = wiring.filter((w) => w.trigger.type === 'queue');
const httpRows = wiring.filter((w) => w.trigger.type === 'http');

describe('StratusStack (the wiring table as deployed)', () => {
  // Prepare (once: synthesis is the slow part)
  const { stack, template } = synth();

  describe('StateTables', () => {
    it('objects: on-demand, KMS-encrypted, PITR, NEW_AND_OLD_IMAGES stream, byNode GSI, retained', () => {
      template.hasResource('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: Match.objectLike({
          KeySchema: [
            { AttributeName: tables.objects.partitionKey, KeyType: 'HASH' },
            { AttributeName: tables.objects.sortKey, KeyType: 'RANGE' },
          ],
          BillingMode: 'PAY_PER_REQUEST',
          SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: Match.anyValue() },
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
          GlobalSecondaryIndexes: [
            {
              IndexName: 'byNode',
              KeySchema: [
                { AttributeName: 'nodeKey', KeyType: 'HASH' },
                { AttributeName: 'sk', KeyType: 'RANGE' },
              ],
              Projection: { ProjectionType: 'ALL' },
            },
          ],
        }),
      });
    });

    it('changes: TTL on `ttl`, encrypted, PITR, no stream, retained', () => {
      template.hasResource('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Retain',
        Properties: Match.objectLike({
          TimeToLiveSpecification: { AttributeName: tables.changes.ttlAttribute, Enabled: true },
          BillingMode: 'PAY_PER_REQUEST',
          SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: Match.anyValue() },
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          StreamSpecification: Match.absent(),
        }),
      });
    });

    it('both tables use the one customer managed key, which rotates and is retained', () => {
      template.resourceCountIs('AWS::DynamoDB::Table', 2);
      template.resourceCountIs('AWS::KMS::Key', 1);
      template.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain', Properties: Match.objectLike({ EnableKeyRotation: true }) });
      const keyId = Object.keys(template.findResources('AWS::KMS::Key'))[0];
      const tablesFound = template.findResources('AWS::DynamoDB::Table', {
        Properties: { SSESpecification: { KMSMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } } },
      });
      expect(Object.keys(tablesFound)).toHaveLength(2);
    });
  });

  describe('functions', () => {
    it('one function per wiring row, Node 22 on arm64, traced, memory and timeout from the row', () => {
      template.resourceCountIs('AWS::Lambda::Function', wiring.length);
      for (const w of wiring) {
        const [, fn] = functionOf(template, w);
        expect(fn.Properties).toMatchObject({
          Runtime: 'nodejs22.x',
          Architectures: ['arm64'],
          MemorySize: w.memoryMiB,
          Timeout: w.timeoutSeconds,
          TracingConfig: { Mode: 'Active' },
          // Lambda's own start/report lines only from WARN up (docs/cost.md: log ingestion).
          LoggingConfig: { LogFormat: 'JSON', SystemLogLevel: 'WARN' },
        });
      }
    });

    it('stream consumers get no more memory than the api, which is sized from its measured cost (512 MB)', () => {
      const api = wiring.find((w) => w.name === 'api')!;
      // docs/cost.md, npm run bench:api-cost: the api is I/O-bound, so GB-s grow with memory.
      expect(api.memoryMiB).toBe(512);
      const [, apiFn] = functionOf(template, api);
      expect((apiFn.Properties as Json).MemorySize).toBe(512);
      for (const w of streamRows) {
        const [, fn] = functionOf(template, w);
        expect((fn.Properties as Json).MemorySize).toBe(w.memoryMiB);
        expect(w.memoryMiB).toBeLessThanOrEqual(api.memoryMiB);
      }
    });

    it('every function gets the table names, the queue prefix and source maps', () => {
      for (const w of wiring) {
        const [, fn] = functionOf(template, w);
        const vars = ((fn.Properties as Json).Environment as { Variables: Json }).Variables;
        expect(vars).toMatchObject({
          STRATUS_OBJECTS_TABLE: { Ref: expect.any(String) },
          STRATUS_CHANGES_TABLE: { Ref: expect.any(String) },
          STRATUS_QUEUE_PREFIX: 'stratus',
          NODE_OPTIONS: '--enable-source-maps',
        });
      }
    });

    it('every function logs to its own log group with a retention', () => {
      template.resourceCountIs('AWS::Logs::LogGroup', wiring.length);
      template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    });

    it('HTTP rows get a Function URL with authType NONE and the invoke mode of their trigger', () => {
      expect(httpRows.length).toBeGreaterThan(0);
      template.resourceCountIs('AWS::Lambda::Url', httpRows.length);
      for (const w of httpRows) {
        const [fnId, fn] = functionOf(template, w);
        // Reserved concurrency only when the deployment asks for it (apiReservedConcurrency).
        expect((fn.Properties as Json).ReservedConcurrentExecutions).toBeUndefined();
        const streaming = w.trigger.type === 'http' && w.trigger.streaming;
        template.hasResourceProperties('AWS::Lambda::Url', {
          TargetFunctionArn: { 'Fn::GetAtt': [fnId, 'Arn'] },
          AuthType: 'NONE',
          InvokeMode: streaming ? 'RESPONSE_STREAM' : 'BUFFERED',
        });
      }
    });

    it('stream rows get an event source mapping with the row settings, partial batch responses and a DLQ', () => {
      expect(streamRows.length).toBeGreaterThan(0);
      template.resourceCountIs('AWS::Lambda::EventSourceMapping', streamRows.length + queueRows.length);
      for (const w of streamRows) {
        if (w.trigger.type !== 'stream') continue;
        const [fnId] = functionOf(template, w);
        template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
          FunctionName: { Ref: fnId },
          EventSourceArn: { 'Fn::GetAtt': [Match.anyValue(), 'StreamArn'] },
          StartingPosition: 'TRIM_HORIZON',
          BatchSize: w.trigger.batchSize,
          MaximumBatchingWindowInSeconds: Math.ceil(w.trigger.maxBatchingWindowMs / 1000),
          MaximumRetryAttempts: w.trigger.maxRetryAttempts,
          BisectBatchOnFunctionError: w.trigger.bisectOnError,
          FunctionResponseTypes: ['ReportBatchItemFailures'],
          DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] } } },
        });
      }
    });

    it('the tick queue row gets its named, encrypted queue with a DLQ, a mapping with partial batch responses, and every controller function may send to it', () => {
      expect(queueRows.map((w) => w.name)).toEqual(['controllers-ticks']);
      const [w] = queueRows;
      if (w?.trigger.type !== 'queue') throw new Error('no queue row');
      const [fnId] = functionOf(template, w);
      template.hasResourceProperties('AWS::SQS::Queue', {
        QueueName: 'stratus_controller-ticks',
        VisibilityTimeout: w.timeoutSeconds * 6,
        SqsManagedSseEnabled: true,
        RedrivePolicy: { maxReceiveCount: 5, deadLetterTargetArn: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] } },
      });
      const queueId = Object.entries(template.findResources('AWS::SQS::Queue')).find(([, r]) => (r as { Properties?: { QueueName?: string } }).Properties?.QueueName === 'stratus_controller-ticks')![0];
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: fnId },
        EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
        BatchSize: w.trigger.batchSize,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
      for (const c of wiring.filter((r) => r.entry === 'functions/controllers/handler.ts')) {
        const sends = statementsOf(template, c).filter((s) => actionsOf(s).includes('sqs:SendMessage') && JSON.stringify(resourcesOf(s)).includes(queueId));
        expect(sends, c.name).toHaveLength(1);
      }
      // Nothing else may send to it, and node agents cannot reach it (`stratus_` is outside `stratus-*`).
      for (const r of wiring.filter((x) => x.entry !== 'functions/controllers/handler.ts')) {
        expect(JSON.stringify(statementsOf(template, r)), r.name).not.toContain(queueId);
      }
    });

    it("stream rows' filters become the mapping's FilterCriteria, pattern for pattern", () => {
      const filtered = streamRows.filter((w) => w.trigger.type === 'stream' && (w.trigger.filters ?? []).length > 0);
      // Both consumers of the objects stream are filtered (docs/cost.md).
      expect(filtered.map((w) => w.name).sort()).toEqual(['controllers', 'scheduler']);
      for (const w of filtered) {
        if (w.trigger.type !== 'stream') continue;
        const [fnId] = functionOf(template, w);
        const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping', { Properties: { FunctionName: { Ref: fnId } } }));
        expect(mappings).toHaveLength(1);
        const patterns = (mappings[0] as { Properties: { FilterCriteria: { Filters: { Pattern: string }[] } } }).Properties.FilterCriteria.Filters.map(
          (f) => JSON.parse(f.Pattern) as unknown,
        );
        expect(patterns).toEqual(w.trigger.filters);
      }
    });

    it('the on-failure destinations are encrypted SQS queues kept for 14 days', () => {
      // Stream mappings only: the tick queue's mapping has its DLQ on the queue (the test above).
      const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping')).filter((m) => (m as { Properties: { DestinationConfig?: unknown } }).Properties.DestinationConfig);
      expect(mappings).toHaveLength(streamRows.length);
      for (const m of mappings) {
        const queueId = (m as { Properties: { DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [string] } } } } })
          .Properties.DestinationConfig.OnFailure.Destination['Fn::GetAtt'][0];
        const queue = template.findResources('AWS::SQS::Queue')[queueId];
        expect(queue?.Properties).toMatchObject({ MessageRetentionPeriod: 14 * 24 * 3600, SqsManagedSseEnabled: true });
      }
    });
  });

  describe('IAM', () => {
    it('no statement grants a wildcard action; `*` resources only for X-Ray and ListStreams', () => {
      const statements = allStatements(template);
      expect(statements.length).toBeGreaterThan(0);
      for (const s of statements) {
        for (const action of actionsOf(s)) {
          expect(action).not.toBe('*');
          expect(action).not.toMatch(/^(dynamodb|sqs|kms|lambda|iam):\*$/);
        }
        if (resourcesOf(s).includes('*')) {
          for (const action of actionsOf(s)) {
            expect(['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'dynamodb:ListStreams']).toContain(action);
          }
        }
      }
    });

    it('DynamoDB actions are item-level and name a table of ours, never `*`', () => {
      const tableIds = Object.keys(template.findResources('AWS::DynamoDB::Table'));
      for (const s of allStatements(template)) {
        const dynamo = actionsOf(s).filter((a) => a.startsWith('dynamodb:'));
        if (dynamo.length === 0 || dynamo.every((a) => a === 'dynamodb:ListStreams')) continue;
        for (const a of dynamo) expect(a).not.toMatch(/\*/);
        for (const r of resourcesOf(s)) expect(tableIds.some((id) => JSON.stringify(r).includes(id)), JSON.stringify(r)).toBe(true);
      }
    });

    it('the api reads and writes both tables and sends only to `${prefix}-*` queues (relay sessions)', () => {
      for (const w of httpRows) {
        const statements = statementsOf(template, w);
        const actions = statements.flatMap(actionsOf);
        expect(actions).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem']));
        const toQueues = statements.filter((s) => actionsOf(s).includes('sqs:SendMessage'));
        expect(toQueues.flatMap(resourcesOf).map(joinedArn)).toEqual(['arn:${token}:sqs:${token}:${token}:stratus-*']);
        const tableIds = Object.keys(template.findResources('AWS::DynamoDB::Table'));
        const written = statements.filter((s) => actionsOf(s).includes('dynamodb:PutItem')).flatMap(resourcesOf);
        for (const id of tableIds) expect(JSON.stringify(written)).toContain(id);
      }
    });

    it('stream consumers (the scheduler) read and write both tables and send only to `${prefix}-*` queues', () => {
      for (const w of streamRows) {
        const statements = statementsOf(template, w);
        const tableIds = Object.keys(template.findResources('AWS::DynamoDB::Table'));
        const written = statements.filter((s) => actionsOf(s).includes('dynamodb:PutItem')).flatMap(resourcesOf);
        for (const id of tableIds) expect(JSON.stringify(written)).toContain(id);
        // (Its failure queue is the other SQS grant, named by reference.)
        const toNodeQueues = statements.filter((s) => resourcesOf(s).some((r) => joinedArn(r)?.includes(':sqs:')));
        expect(toNodeQueues).toHaveLength(1);
        expect([...actionsOf(toNodeQueues[0])].sort()).toEqual(['sqs:GetQueueUrl', 'sqs:SendMessage']);
        expect(resourcesOf(toNodeQueues[0]).map(joinedArn)).toEqual(['arn:${token}:sqs:${token}:${token}:stratus-*']);
      }
    });

    it("node agents get exactly their queue actions, scoped to their own cluster's queues", () => {
      const managed = Object.values(template.findResources('AWS::IAM::ManagedPolicy'));
      expect(managed).toHaveLength(1);
      const [statement, ...more] = (managed[0] as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement;
      expect(more).toHaveLength(0);
      expect(statement.Effect).toBe('Allow');
      expect([...actionsOf(statement)].sort()).toEqual(
        [
          'sqs:CreateQueue',
          'sqs:GetQueueUrl',
          'sqs:ReceiveMessage',
          'sqs:DeleteMessage',
          'sqs:ChangeMessageVisibility',
          'sqs:SetQueueAttributes',
          'sqs:GetQueueAttributes',
        ].sort(),
      );
      // The fleet's cluster (default) only: a fixed-width hash of it starts every one of its queue
      // names, so no other cluster's queue matches (a tenant's taken node cannot read, delete or
      // re-time another cluster's placements, nor open its queue policy).
      const own = `arn:\${token}:sqs:\${token}:\${token}:${nodeQueueClusterPrefix('stratus', 'default')}*`;
      expect(resourcesOf(statement).map(joinedArn)).toEqual([own]);
      expect(own).toMatch(/:stratus-[0-9a-f]{16}-\*$/);
      const sqsStatements = allStatements(template).filter((s) => actionsOf(s).some((a) => a.startsWith('sqs:')));
      const failureQueueIds = Object.keys(template.findResources('AWS::SQS::Queue'));
      for (const s of sqsStatements) {
        for (const r of resourcesOf(s)) {
          // Either a node queue of this deployment or a stream consumer's own failure queue.
          const ownFailureQueue = failureQueueIds.some((id) => JSON.stringify(r) === JSON.stringify({ 'Fn::GetAtt': [id, 'Arn'] }));
          // The control plane's senders: every node queue of the deployment; node agents: their cluster's.
          if (!ownFailureQueue) expect(['arn:${token}:sqs:${token}:${token}:stratus-*', own]).toContain(joinedArn(r));
        }
      }
    });
  });

  describe('outputs', () => {
    it('ApiUrl is the Function URL; ObjectsTableName and QueuePrefix are given', () => {
      template.hasOutput('ApiUrl', { Value: { 'Fn::GetAtt': [Match.anyValue(), 'FunctionUrl'] } });
      template.hasOutput('ObjectsTableName', { Value: { Ref: Match.anyValue() } });
      template.hasOutput('QueuePrefix', { Value: 'stratus' });
      template.hasOutput('NodeAgentPolicyArn', { Value: { Ref: Match.anyValue() } });
    });

    it('keeps a map of the functions by wiring name', () => {
      expect([...stack.functions.keys()]).toEqual(wiring.map((w) => w.name));
    });
  });
});

describe('the kubelet relay (a WebSocket API on the relay row)', () => {
  const { template } = synth();
  const row = wiring.find((w) => w.trigger.type === 'websocket')!;

  it('one WebSocket API whose $connect, $default and $disconnect routes proxy to the relay function, on one stage', () => {
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'WEBSOCKET' });
    const [fnId] = functionOf(template, row);
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map((r) => (r as { Properties: { RouteKey: string; AuthorizationType?: string } }).Properties);
    expect(routes.map((r) => r.RouteKey).sort()).toEqual(['$connect', '$default', '$disconnect']);
    const integrations = Object.values(template.findResources('AWS::ApiGatewayV2::Integration')).map((r) => JSON.stringify(r));
    expect(integrations).toHaveLength(3);
    for (const i of integrations) {
      expect(i).toContain('AWS_PROXY');
      expect(i).toContain(fnId);
    }
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', { StageName: 'relay', AutoDeploy: true });
  });

  it("the relay function may manage this API's connections only, write only the changes table and read node tokens", () => {
    const statements = statementsOf(template, row);
    const manage = statements.filter((s) => actionsOf(s).includes('execute-api:ManageConnections'));
    expect(manage).toHaveLength(1);
    const apiId = Object.keys(template.findResources('AWS::ApiGatewayV2::Api'))[0]!;
    expect(JSON.stringify(resourcesOf(manage[0]))).toContain(apiId);
    expect(JSON.stringify(resourcesOf(manage[0]))).toContain('/*/*/@connections/*');
    const tableIds = Object.fromEntries(
      Object.entries(template.findResources('AWS::DynamoDB::Table')).map(([id, t]) => [(t as { Properties: { TimeToLiveSpecification?: unknown } }).Properties.TimeToLiveSpecification ? 'changes' : 'objects', id]),
    );
    const written = JSON.stringify(statements.filter((s) => actionsOf(s).includes('dynamodb:PutItem')).flatMap(resourcesOf));
    expect(written).toContain(tableIds.changes);
    expect(written).not.toContain(tableIds.objects);
    const read = JSON.stringify(statements.filter((s) => actionsOf(s).includes('dynamodb:GetItem')).flatMap(resourcesOf));
    expect(read).toContain(tableIds.objects);
    expect(statements.flatMap(actionsOf)).not.toContain('sqs:SendMessage');
  });

  it("the api function is given the relay's wss:// URL", () => {
    for (const w of httpRows) {
      const [, fn] = functionOf(template, w);
      expect(JSON.stringify((fn.Properties as { Environment: { Variables: Json } }).Environment.Variables.STRATUS_KUBELET_RELAY_URL)).toContain('wss://');
    }
  });
});

describe('StratusStack with other wiring (nothing in the stack names a function)', () => {
  // Prepare
  const extra: FunctionWiring[] = [
    ...wiring,
    {
      name: 'replicaset-controller',
      entry: 'functions/controllers/replicaset.ts',
      handler: 'handler',
      trigger: { type: 'stream', table: 'objects', batchSize: 25, maxBatchingWindowMs: 1500, maxRetryAttempts: 3, bisectOnError: false },
      memoryMiB: 512,
      timeoutSeconds: 20,
    },
    {
      name: 'cronjob-controller',
      entry: 'functions/controllers/cronjob.ts',
      handler: 'tick',
      trigger: { type: 'schedule', everySeconds: 30 },
      memoryMiB: 256,
      timeoutSeconds: 30,
    },
    { name: 'watch', entry: 'functions/watch/handler.ts', handler: 'handler', trigger: { type: 'http', streaming: true }, memoryMiB: 512, timeoutSeconds: 900 },
  ];
  const { stack, template } = synth({ wiring: extra, queuePrefix: 'acme-prod' });

  it('deploys a new row of each trigger type', () => {
    template.resourceCountIs('AWS::Lambda::Function', extra.length);
    for (const w of extra) functionOf(template, w);
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', extra.filter((w) => w.trigger.type === 'stream' || w.trigger.type === 'queue').length);
  });

  it('maps the batching window to whole seconds and takes the row settings', () => {
    const [fnId] = functionOf(template, extra.find((w) => w.name === 'replicaset-controller')!);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: fnId },
      BatchSize: 25,
      MaximumBatchingWindowInSeconds: 2,
      MaximumRetryAttempts: 3,
      BisectBatchOnFunctionError: false,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('a streaming HTTP row gets RESPONSE_STREAM and its own URL output', () => {
    const [fnId] = functionOf(template, extra.find((w) => w.name === 'watch')!);
    template.hasResourceProperties('AWS::Lambda::Url', { TargetFunctionArn: { 'Fn::GetAtt': [fnId, 'Arn'] }, AuthType: 'NONE', InvokeMode: 'RESPONSE_STREAM' });
    template.hasOutput('WatchUrl', Match.anyValue());
  });

  it('a schedule row gets an EventBridge rate rule targeting its function, rounded up to a minute with a warning', () => {
    const [fnId] = functionOf(template, extra.find((w) => w.name === 'cronjob-controller')!);
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [fnId, 'Arn'] } })],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] },
    });
    Annotations.fromStack(stack).hasWarning('*', Match.stringLikeRegexp('cronjob-controller: every 30 s'));
  });

  it('scopes every node-queue statement to the configured prefix', () => {
    template.hasOutput('QueuePrefix', { Value: 'acme-prod' });
    const arns = allStatements(template)
      .filter((s) => actionsOf(s).includes('sqs:SendMessage') || actionsOf(s).includes('sqs:CreateQueue'))
      .flatMap(resourcesOf)
      .map(joinedArn)
      .filter((arn) => arn !== undefined);
    expect(arns.length).toBeGreaterThan(0);
    // Senders: the deployment's node queues; node agents (CreateQueue): their own cluster's.
    const agents = `arn:\${token}:sqs:\${token}:\${token}:${nodeQueueClusterPrefix('acme-prod', 'default')}*`;
    for (const arn of arns) expect(['arn:${token}:sqs:${token}:${token}:acme-prod-*', agents]).toContain(arn);
    expect(arns).toContain(agents);
  });
});

describe('StratusStack rejects wiring it cannot deploy', () => {
  const row = (over: Partial<FunctionWiring>): FunctionWiring => ({ ...wiring[0], ...over });

  it('a stream row on a table without a stream', () => {
    const bad = row({ name: 'on-changes', trigger: { type: 'stream', table: 'changes', batchSize: 10, maxBatchingWindowMs: 0, maxRetryAttempts: 1, bisectOnError: true } });
    expect(() => synth({ wiring: [bad] })).toThrow(/changes has no stream/);
  });

  it('a stream row whose filters use a rule the local runtime would not honour', () => {
    const bad = row({
      name: 'filtered',
      trigger: { type: 'stream', table: 'objects', batchSize: 10, maxBatchingWindowMs: 0, maxRetryAttempts: 1, bisectOnError: true, filters: [{ eventName: [{ 'anything-but': ['REMOVE'] } as never] }] },
    });
    expect(() => synth({ wiring: [bad] })).toThrow(/unsupported filter rule/);
  });

  it('duplicate or non-kebab-case names, and queue prefixes that are not queue-name safe', () => {
    expect(() => synth({ wiring: [wiring[0], wiring[0]] })).toThrow(/not unique/);
    expect(() => synth({ wiring: [row({ name: 'Bad_Name' })] })).toThrow(/kebab-case/);
    expect(() => synth({ queuePrefix: 'stratus*' })).toThrow(/queuePrefix/);
  });
});

describe('defaults', () => {
  it('bundles ESM for node22 with the require shim, minified, with source maps, never in Docker', () => {
    expect(bundlingOptions).toMatchObject({
      format: OutputFormat.ESM,
      target: 'node22',
      minify: true,
      sourceMap: true,
      forceDockerBundling: false,
      banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
    });
  });

  it('rounds schedules up to whole minutes', () => {
    expect(scheduleRateMinutes(60)).toEqual({ minutes: 1, rounded: false });
    expect(scheduleRateMinutes(300)).toEqual({ minutes: 5, rounded: false });
    expect(scheduleRateMinutes(10)).toEqual({ minutes: 1, rounded: true });
    expect(scheduleRateMinutes(90)).toEqual({ minutes: 2, rounded: true });
  });

  it('grants queue sends to stream consumers and the api (relay sessions) only', () => {
    expect(defaultAccess({ type: 'http', streaming: false }).sendToNodeQueues).toBe(true);
    expect(defaultAccess({ type: 'websocket', stage: 'relay' })).toEqual({ readWriteTables: ['changes'], sendToNodeQueues: false });
    expect(defaultAccess({ type: 'schedule', everySeconds: 60 }).sendToNodeQueues).toBe(false);
    expect(defaultAccess(wiring.find((w) => w.trigger.type === 'stream')!.trigger)).toEqual({
      readWriteTables: ['objects', 'changes'],
      sendToNodeQueues: true,
    });
  });
});

describe('api reserved concurrency (fairness: a flood cannot take the account pool from the stream consumers)', () => {
  it('none unless asked; when asked, on the HTTP rows only', () => {
    const withIt = synth({ apiReservedConcurrency: 200 }).template;
    for (const w of wiring) {
      const [, fn] = functionOf(withIt, w);
      expect((fn.Properties as Json).ReservedConcurrentExecutions, w.name).toBe(w.trigger.type === 'http' ? 200 : undefined);
    }
  });
});
