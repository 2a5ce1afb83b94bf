/**
 * The operational parts of the CDK app: cdk-nag, the node fleet, alarms and the dashboard.
 * Synthesised offline like test/unit/infra.test.ts: functions get inline code and the node agent a
 * prebuilt one-line bundle, so nothing is bundled during synthesis. Resources are found by what
 * they are, never by logical ID.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildSync } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { applyNagChecks, NodeFleet, nagSuppressions, repoRoot } from '../../infra/constructs';
import { alarmRules, nodeAgentBuildOptions } from '../../infra/defaults';
import { StratusStack, type StratusStackProps } from '../../infra/stack';
import { wiring, type FunctionWiring } from '../../infra/wiring';

const cdkContext = (JSON.parse(readFileSync(join(repoRoot, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;

// A stand-in for the esbuild bundle of node-agent/main.ts (built for real in `cdk synth`).
const agentBundleFile = join(mkdtempSync(join(tmpdir(), 'stratus-agent-')), 'agent.mjs');
writeFileSync(agentBundleFile, "console.log('node agent');\n");

const TOPIC_ARN = 'arn:aws:sns:us-east-1:111111111111:stratus-alarms';

function synth(props: StratusStackProps = {}): { stack: StratusStack; template: Template } {
  const app = new App({ context: cdkContext });
  const stack = new StratusStack(app, 'StratusOps', {
    codeFor: () => lambda.Code.fromInline('export const handler = async () => undefined;'),
    ...props,
    nodeFleet: props.nodeFleet === false ? false : { agentBundleFile, ...props.nodeFleet },
  });
  return { stack, template: Template.fromStack(stack) };
}

/** cdk-nag's AWS Solutions findings not acknowledged, as `severity rule path` lines. */
function nagFindings(stack: Stack): string[] {
  const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(stack);
  return report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.severity} ${v.ruleName} ${r.constructPath}`));
}

type Json = Record<string, unknown>;
interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}
const list = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

/** A Fn::Join / Fn::Base64 / Fn::Sub value as one string, references rendered as `${...}`. */
function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  const o = value as Json;
  if (o['Fn::Base64']) return flatten(o['Fn::Base64']);
  if (o['Fn::Join']) {
    const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
    return parts.map(flatten).join(sep);
  }
  if (o['Fn::GetAtt']) return `\${${(o['Fn::GetAtt'] as string[]).join('.')}}`;
  if (o.Ref) return `\${${String(o.Ref)}}`;
  if (o['Fn::Sub']) return String(o['Fn::Sub']);
  return JSON.stringify(value);
}

function only(template: Template, type: string): [string, Json] {
  const found = Object.entries(template.findResources(type));
  expect(found, type).toHaveLength(1);
  return found[0] as [string, Json];
}

function functionId(template: Template, w: FunctionWiring): string {
  const found = Object.keys(
    template.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp(`^Stratus ${w.name} \\(`) } }),
  );
  expect(found).toHaveLength(1);
  return found[0]!;
}

const streamRows = wiring.filter((w) => w.trigger.type === 'stream');
const httpRows = wiring.filter((w) => w.trigger.type === 'http');

describe('cdk-nag (AwsSolutions)', () => {
  // Prepare
  const { stack } = synth();

  it('the default stack has no unacknowledged finding, error or warning', () => {
    // Act
    const findings = nagFindings(stack);
    // Assess
    expect(findings).toEqual([]);
  });

  it('stays clean with an alarm topic, without a fleet, and with new wiring rows', () => {
    const extra: FunctionWiring[] = [
      ...wiring,
      {
        name: 'extra-consumer',
        entry: 'functions/scheduler/handler.ts',
        handler: 'handler',
        trigger: { type: 'stream', table: 'objects', batchSize: 100, maxBatchingWindowMs: 0, maxRetryAttempts: 10, bisectOnError: true },
        memoryMiB: 1024,
        timeoutSeconds: 60,
      },
      { name: 'extra-schedule', entry: 'functions/scheduler/handler.ts', handler: 'handler', trigger: { type: 'schedule', everySeconds: 60 }, memoryMiB: 512, timeoutSeconds: 60 },
    ];
    expect(nagFindings(synth({ alarmTopicArn: TOPIC_ARN }).stack)).toEqual([]);
    expect(nagFindings(synth({ nodeFleet: false }).stack)).toEqual([]);
    expect(nagFindings(synth({ wiring: extra, queuePrefix: 'acme-prod' }).stack)).toEqual([]);
  });

  it('every acknowledgement names an AwsSolutions finding, specific constructs and a reason', () => {
    const suppressions = nagSuppressions(stack, { alarmTopic: false });
    expect(suppressions.length).toBeGreaterThan(0);
    for (const s of suppressions) {
      expect(s.id).toMatch(/^AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      expect(s.on.length).toBeGreaterThan(0);
      expect(s.on).not.toContain(stack);
      expect(s.reason.length, s.id).toBeGreaterThan(40);
    }
    // With a topic, the ASG sends scaling notifications, so AS3 needs no acknowledgement.
    expect(nagSuppressions(stack, { alarmTopic: true }).map((s) => s.id)).not.toContain('AwsSolutions-AS3');
  });

  it('applyNagChecks fails synthesis on a finding nobody acknowledged', () => {
    // Prepare
    const app = new App();
    const bad = new Stack(app, 'Bad');
    new sqs.Queue(bad, 'Plain', { encryption: sqs.QueueEncryption.UNENCRYPTED });
    applyNagChecks(app);
    // Act, Assess
    expect(() => app.synth()).toThrow(/AwsSolutions-SQS2/);
  });
});

describe('NodeFleet in the stack (defaults)', () => {
  // Prepare
  const { stack, template } = synth();

  it('launch template: AL2023 arm64 from SSM, IMDSv2 only with hop limit 1, encrypted gp3 root, no key pair', () => {
    const [, lt] = only(template, 'AWS::EC2::LaunchTemplate');
    const data = (lt.Properties as { LaunchTemplateData: Json }).LaunchTemplateData;
    expect(data).toMatchObject({
      InstanceType: 't4g.small',
      MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1, HttpEndpoint: 'enabled' },
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { Encrypted: true, VolumeType: 'gp3', VolumeSize: 30, DeleteOnTermination: true } }],
      Monitoring: { Enabled: false },
    });
    expect(data.KeyName).toBeUndefined();
    const imageParam = (data.ImageId as { Ref: string }).Ref;
    expect(template.toJSON().Parameters[imageParam]).toMatchObject({
      Type: 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>',
      Default: expect.stringMatching(/^\/aws\/service\/ami-amazon-linux-latest\/al2023-ami-.*-arm64$/),
    });
    expect(JSON.stringify(template.toJSON())).not.toMatch(/KeyName|AWS::EC2::KeyPair/);
  });

  it('security group: no inbound rule at all (SSM instead of SSH), egress allowed', () => {
    const [, sg] = only(template, 'AWS::EC2::SecurityGroup');
    expect((sg.Properties as Json).SecurityGroupIngress).toBeUndefined();
    expect((sg.Properties as Json).SecurityGroupEgress).toEqual([expect.objectContaining({ CidrIp: '0.0.0.0/0' })]);
    template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
  });

  it('Auto Scaling group: 0 to 3 instances, no desired capacity in the template, from the launch template', () => {
    const [ltId] = only(template, 'AWS::EC2::LaunchTemplate');
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      MinSize: '0',
      MaxSize: '3',
      DesiredCapacity: Match.absent(),
      LaunchTemplate: { LaunchTemplateId: { Ref: ltId }, Version: { 'Fn::GetAtt': [ltId, 'LatestVersionNumber'] } },
      NotificationConfigurations: Match.absent(),
    });
  });

  it('a new VPC: public subnets only, no NAT gateway, flow logs on', () => {
    template.resourceCountIs('AWS::EC2::VPC', 1);
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.resourceCountIs('AWS::EC2::Subnet', 2);
    template.allResourcesProperties('AWS::EC2::Subnet', { MapPublicIpOnLaunch: true });
    template.hasResourceProperties('AWS::EC2::FlowLog', { ResourceType: 'VPC', TrafficType: 'ALL', LogDestinationType: 'cloud-watch-logs' });
    const asg = Object.values(template.findResources('AWS::AutoScaling::AutoScalingGroup'))[0] as { Properties: { VPCZoneIdentifier: { Ref: string }[] } };
    const subnets = template.findResources('AWS::EC2::Subnet');
    for (const s of asg.Properties.VPCZoneIdentifier) expect(Object.keys(subnets)).toContain(s.Ref);
  });

  it('instance role: node queue policy + SSM core, the one token parameter, the one agent object, nothing else', () => {
    const fleet = stack.nodeFleet!;
    const roleId = stack.getLogicalId(fleet.role.node.defaultChild as iam.CfnRole);
    const role = template.toJSON().Resources[roleId] as { Properties: { ManagedPolicyArns: unknown[]; AssumeRolePolicyDocument: Json } };
    expect(JSON.stringify(role.Properties.AssumeRolePolicyDocument)).toContain('ec2.amazonaws.com');
    const managed = role.Properties.ManagedPolicyArns.map(flatten);
    const nodeAgentPolicyId = stack.getLogicalId(stack.nodeQueues.nodeAgentPolicyOf("default").node.defaultChild as iam.CfnManagedPolicy);
    expect(managed).toEqual(expect.arrayContaining([`\${${nodeAgentPolicyId}}`, expect.stringMatching(/:iam::aws:policy\/AmazonSSMManagedInstanceCore$/)]));
    expect(managed).toHaveLength(2);

    const inline = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } })).flatMap(
      (p) => (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement,
    );
    expect(inline.map((s) => [list(s.Action), list(s.Resource).map(flatten)])).toEqual([
      [['ssm:GetParameter'], ['arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/stratus/default/node-token']],
      [['s3:GetObject'], [expect.stringMatching(/^arn:\$\{AWS::Partition\}:s3:::cdk-[a-z0-9]+-assets-.*\/[0-9a-f]{64}\.mjs$/)]],
    ]);
  });

  it('user data: Docker and Node.js 22, the agent from S3, a systemd service with the api URL of the tenant and the SSM token', () => {
    const [, lt] = only(template, 'AWS::EC2::LaunchTemplate');
    const script = flatten((lt.Properties as { LaunchTemplateData: { UserData: unknown } }).LaunchTemplateData.UserData);
    const urlId = Object.keys(template.findResources('AWS::Lambda::Url'))[0];
    expect(script).toMatch(/^#!\/bin\/bash\nset -euo pipefail\n/);
    expect(script).toContain('dnf install -y docker nodejs22');
    expect(script).toContain('systemctl enable --now docker');
    expect(script).toMatch(/aws s3 cp 's3:\/\/.+\/[0-9a-f]{64}\.mjs' '\/opt\/stratus\/agent\.mjs' --region \$\{AWS::Region\}/);
    expect(script).toContain(`STRATUS_SERVER=\${${urlId}.FunctionUrl}clusters/default\n`);
    expect(script).toContain('STRATUS_TOKEN_PARAMETER=/stratus/default/node-token\n');
    expect(script).toContain('STRATUS_QUEUE_PREFIX=stratus\n');
    expect(script).toContain('STRATUS_PAUSE_IMAGE=registry.k8s.io/pause:3.10\n');
    expect(script).toContain('aws ssm get-parameter --name "$STRATUS_TOKEN_PARAMETER" --with-decryption');
    expect(script).toContain(
      'STRATUS_JOIN_TOKEN="$token" exec /usr/bin/node-22 /opt/stratus/agent.mjs agent --server "$STRATUS_SERVER" --name "$node_name" --pause-image "$STRATUS_PAUSE_IMAGE"',
    );
    // Relay mode: the agent dials the stack's kubelet relay and listens on no kubelet port.
    expect(script).toMatch(/STRATUS_RELAY_URL=wss:\/\/.+\/relay\n/);
    expect(script).toContain('--pause-image "$STRATUS_PAUSE_IMAGE" ${STRATUS_RELAY_URL:+--relay-url "$STRATUS_RELAY_URL"}');
    expect(script).toContain('X-aws-ec2-metadata-token'); // IMDSv2 for the instance id
    expect(script).toContain('ExecStart=/opt/stratus/run-agent.sh');
    expect(script).toContain('systemctl enable --now stratus-agent.service');
    // The token itself is never in the template.
    expect(script).not.toMatch(/--token/);
  });

  it('outputs the group name and the token parameter', () => {
    template.hasOutput('NodeFleetGroupName', { Value: { Ref: Match.anyValue() } });
    template.hasOutput('NodeTokenParameter', { Value: '/stratus/default/node-token' });
  });
});

describe('NodeFleet options', () => {
  it('tenant, token parameter, capacity, instance type and prefix from props', () => {
    const { template } = synth({
      queuePrefix: 'acme-prod',
      nodeFleet: { tenant: 'acme', tokenParameterName: '/ops/acme/token', minCapacity: 1, maxCapacity: 5, desiredCapacity: 2, instanceType: new ec2.InstanceType('m7g.large') },
    });
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', { MinSize: '1', MaxSize: '5', DesiredCapacity: '2' });
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', { LaunchTemplateData: Match.objectLike({ InstanceType: 'm7g.large' }) });
    const script = flatten((only(template, 'AWS::EC2::LaunchTemplate')[1].Properties as { LaunchTemplateData: { UserData: unknown } }).LaunchTemplateData.UserData);
    expect(script).toMatch(/STRATUS_SERVER=.*clusters\/acme\n/);
    expect(script).toContain('STRATUS_TOKEN_PARAMETER=/ops/acme/token\n');
    expect(script).toContain('STRATUS_QUEUE_PREFIX=acme-prod\n');
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: 'ssm:GetParameter', Resource: Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([':parameter/ops/acme/token'])] }) })]) },
    });
  });

  it('an existing VPC and its private subnets: no VPC, NAT or flow log of its own', () => {
    // Prepare
    const app = new App({ context: cdkContext });
    const stack = new Stack(app, 'Fleet');
    const vpc = new ec2.Vpc(stack, 'Existing', { natGateways: 1, maxAzs: 2, restrictDefaultSecurityGroup: false });
    const policy = new iam.ManagedPolicy(stack, 'Queues', { statements: [new iam.PolicyStatement({ actions: ['sqs:ReceiveMessage'], resources: ['*'] })] });
    // Act
    const fleet = new NodeFleet(stack, 'Nodes', {
      apiUrl: 'https://abc.lambda-url.us-east-1.on.aws/',
      tenant: 'acme',
      queuePrefix: 'stratus',
      nodeAgentPolicy: policy,
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      agentBundleFile,
    });
    const template = Template.fromStack(stack);
    // Assess
    expect(fleet.vpc).toBe(vpc);
    template.resourceCountIs('AWS::EC2::VPC', 1);
    template.resourceCountIs('AWS::EC2::FlowLog', 0);
    const privateIds = vpc.privateSubnets.map((s) => ({ Ref: stack.getLogicalId(s.node.defaultChild as ec2.CfnSubnet) }));
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', { VPCZoneIdentifier: privateIds });
  });

  it('rejects a tenant that is not a DNS label, a relative parameter name, and a fleet without an api row', () => {
    expect(() => synth({ nodeFleet: { tenant: 'Acme Corp' } })).toThrow(/DNS label/);
    expect(() => synth({ nodeFleet: { tokenParameterName: 'no-slash' } })).toThrow(/must be a path/);
    const schedulerOnly = wiring.filter((w) => w.trigger.type !== 'http');
    expect(() => synth({ wiring: schedulerOnly })).toThrow(/no `api` HTTP row/);
    expect(() => synth({ wiring: schedulerOnly, nodeFleet: false })).not.toThrow();
  });

  it('nodeFleet: false makes no fleet, VPC or instance role', () => {
    const { stack, template } = synth({ nodeFleet: false });
    expect(stack.nodeFleet).toBeUndefined();
    template.resourceCountIs('AWS::AutoScaling::AutoScalingGroup', 0);
    template.resourceCountIs('AWS::EC2::VPC', 0);
    template.resourceCountIs('AWS::EC2::LaunchTemplate', 0);
  });
});

describe('the node agent bundle', () => {
  it('node-agent/main.ts bundles into one ESM file for Node 22 without native addons', () => {
    // Act (in memory: the same options `cdk synth` uses)
    const out = buildSync({ ...nodeAgentBuildOptions, absWorkingDir: repoRoot, entryPoints: [join(repoRoot, 'node-agent/main.ts')], outfile: 'agent.mjs', write: false, logLevel: 'silent' });
    // Assess
    expect(out.errors).toEqual([]);
    expect(out.outputFiles).toHaveLength(1);
    const code = out.outputFiles[0]!.text;
    expect(code).toContain('runAgentCli');
    expect(code.startsWith("import { createRequire as __stratusCreateRequire } from 'node:module';")).toBe(true);
    // Native addons stay external: absent on the node, so ssh2 falls back to JavaScript.
    expect(code).toMatch(/require\(["'][^"']*sshcrypto\.node["']\)/);
  });
});

describe('Monitoring', () => {
  // Prepare
  const extra: FunctionWiring[] = [
    ...wiring,
    { name: 'watch', entry: 'functions/watch/handler.ts', handler: 'handler', trigger: { type: 'http', streaming: true }, memoryMiB: 512, timeoutSeconds: 900 },
  ];
  const { template } = synth({ wiring: extra });
  const alarms = () => Object.values(template.findResources('AWS::CloudWatch::Alarm')) as { Properties: Json }[];
  const alarmOn = (metricName: string, fnId: string) =>
    template.findResources('AWS::CloudWatch::Alarm', {
      Properties: { MetricName: metricName, Namespace: 'AWS/Lambda', Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId } }] },
    });

  it('every function gets the Powertools service name and metrics namespace', () => {
    for (const w of extra) {
      const fn = template.toJSON().Resources[functionId(template, w)] as { Properties: { Environment: { Variables: Json } } };
      expect(fn.Properties.Environment.Variables).toMatchObject({ POWERTOOLS_SERVICE_NAME: `stratus-${w.name}`, POWERTOOLS_METRICS_NAMESPACE: 'Stratus' });
    }
  });

  it('every function: Errors >= 1 and Throttles >= 1 per 5 minutes', () => {
    for (const w of extra) {
      const id = functionId(template, w);
      expect(Object.values(alarmOn('Errors', id))[0]?.Properties).toMatchObject({
        Statistic: 'Sum',
        Period: 300,
        Threshold: alarmRules.functionErrors.threshold,
        EvaluationPeriods: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
      expect(Object.values(alarmOn('Throttles', id))[0]?.Properties).toMatchObject({ Statistic: 'Sum', Threshold: 1 });
    }
  });

  it('HTTP rows: Url5xxCount >= 5 per 5 minutes; UrlRequestLatency p99 >= 3 s (p50 on streaming rows)', () => {
    for (const w of extra.filter((r) => r.trigger.type === 'http')) {
      const id = functionId(template, w);
      expect(Object.values(alarmOn('Url5xxCount', id))[0]?.Properties).toMatchObject({ Statistic: 'Sum', Period: 300, Threshold: 5 });
      const streaming = w.trigger.type === 'http' && w.trigger.streaming;
      expect(Object.values(alarmOn('UrlRequestLatency', id))[0]?.Properties).toMatchObject({
        ExtendedStatistic: streaming ? 'p50' : 'p99',
        Threshold: 3000,
        EvaluationPeriods: 3,
      });
    }
    expect(httpRows.length).toBeGreaterThan(0);
  });

  it('stream rows: IteratorAge max >= 60 s for 3 minutes, and any record on the on-failure queue', () => {
    expect(streamRows.length).toBeGreaterThan(0);
    for (const w of streamRows) {
      const id = functionId(template, w);
      expect(Object.values(alarmOn('IteratorAge', id))[0]?.Properties).toMatchObject({ Statistic: 'Maximum', Period: 60, Threshold: 60_000, EvaluationPeriods: 3 });
      const mapping = Object.values(template.findResources('AWS::Lambda::EventSourceMapping', { Properties: { FunctionName: { Ref: id } } }))[0] as {
        Properties: { DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [string, string] } } } };
      };
      const queueId = mapping.Properties.DestinationConfig.OnFailure.Destination['Fn::GetAtt'][0];
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
        Statistic: 'Maximum',
        Threshold: 1,
      });
    }
  });

  it('exactly those alarms; idle (missing data) is OK; no actions without a topic', () => {
    const http = extra.filter((w) => w.trigger.type === 'http').length;
    const stream = extra.filter((w) => w.trigger.type === 'stream').length;
    expect(alarms()).toHaveLength(2 * extra.length + 2 * http + 2 * stream);
    for (const a of alarms()) {
      expect(a.Properties).toMatchObject({ TreatMissingData: 'notBreaching', AlarmDescription: expect.stringMatching(/^Stratus /) });
      expect(a.Properties.AlarmActions).toBeUndefined();
    }
  });

  it('one dashboard with the Function URL, Lambda, iterator age and failure-queue metrics', () => {
    const [, dashboard] = only(template, 'AWS::CloudWatch::Dashboard');
    const body = flatten((dashboard.Properties as Json).DashboardBody);
    for (const metric of ['UrlRequestCount', 'Url4xxCount', 'Url5xxCount', 'UrlRequestLatency', 'Invocations', 'Errors', 'Throttles', 'Duration', 'IteratorAge', 'ApproximateNumberOfMessagesVisible']) {
      expect(body).toContain(`"${metric}"`);
    }
    expect(body).toContain('"type":"alarm"');
    template.hasOutput('DashboardName', { Value: { Ref: Match.anyValue() } });
  });

  it('with alarmTopicArn: every alarm notifies the topic (and on OK), and the fleet sends scaling events there', () => {
    const { template: withTopic } = synth({ alarmTopicArn: TOPIC_ARN });
    const all = Object.values(withTopic.findResources('AWS::CloudWatch::Alarm')) as { Properties: Json }[];
    expect(all.length).toBeGreaterThan(0);
    for (const a of all) expect(a.Properties).toMatchObject({ AlarmActions: [TOPIC_ARN], OKActions: [TOPIC_ARN] });
    withTopic.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      NotificationConfigurations: [Match.objectLike({ TopicARN: TOPIC_ARN })],
    });
  });
});
