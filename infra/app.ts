/**
 * The CDK app (cdk.json: `npx tsx infra/app.ts`). Context (all optional):
 *   -c stackName=Stratus               the CloudFormation stack name
 *   -c queuePrefix=stratus             prefix of node queue names (one per deployment in an account/region)
 *   -c alarmTopicArn=arn:aws:sns:...   SNS topic for alarms, OK notifications and node scaling events
 *   -c nodeFleet=false                 no node fleet (join hosts by hand, docs/aws.md)
 *   -c nodeTenant=default              the tenant (virtual cluster) the fleet's nodes join
 *   -c nodeTokenParameter=/stratus/default/join-token   SSM SecureString holding a join token (npx stratus cluster join-token NAME)
 *   -c nodeInstanceType=t4g.small      an arm64 (Graviton) instance type
 *   -c nodeMinCapacity=0 -c nodeMaxCapacity=3 -c nodeDesiredCapacity=N
 *   -c vpcId=vpc-...                   launch nodes in an existing VPC (needs an env: looked up at synth)
 *   -c nodeSubnetType=PRIVATE_WITH_EGRESS   subnets of that VPC (default PUBLIC)
 *
 * cdk-nag's AWS Solutions rules run on every synth; an unacknowledged finding fails it
 * (acknowledgements and their reasons: infra/constructs/nag.ts).
 */
import { App } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { applyNagChecks } from './constructs';
import { StratusStack, type NodeFleetOptions } from './stack';

const app = new App();
const context = (key: string): string | undefined => {
  const value: unknown = app.node.tryGetContext(key);
  return value === undefined || value === null ? undefined : String(value);
};
const number = (key: string): number | undefined => {
  const value = context(key);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`-c ${key} must be a non-negative integer, got ${value}`);
  return n;
};

const stackName = context('stackName') ?? 'Stratus';
// Unset offline: the template is then environment-agnostic, which is all synth needs.
const env = { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION };

new StratusStack(app, stackName, {
  queuePrefix: context('queuePrefix'),
  env,
  description: 'Stratus: a Kubernetes-compatible control plane on Lambda, DynamoDB and SQS',
  nodeFleet: context('nodeFleet') === 'false' ? false : fleetOptions(),
  alarmTopicArn: context('alarmTopicArn'),
  apiReservedConcurrency: number('apiReservedConcurrency'),
});

function fleetOptions(): NodeFleetOptions {
  return {
    tenant: context('nodeTenant'),
    tokenParameterName: context('nodeTokenParameter'),
    instanceType: context('nodeInstanceType') ? new ec2.InstanceType(context('nodeInstanceType')!) : undefined,
    minCapacity: number('nodeMinCapacity'),
    maxCapacity: number('nodeMaxCapacity'),
    desiredCapacity: number('nodeDesiredCapacity'),
    vpcId: context('vpcId'),
    vpcSubnets: context('nodeSubnetType') ? { subnetType: context('nodeSubnetType') as ec2.SubnetType } : undefined,
  };
}

applyNagChecks(app);
app.synth();
