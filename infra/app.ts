/**
 * The CDK app (cdk.json: `npx tsx infra/app.ts`). Context:
 *   -c stackName=Stratus     the CloudFormation stack name
 *   -c queuePrefix=stratus   prefix of node queue names (one per deployment in an account/region)
 */
import { App } from 'aws-cdk-lib';
import { StratusStack } from './stack';

const app = new App();
const stackName = (app.node.tryGetContext('stackName') as string | undefined) ?? 'Stratus';
const queuePrefix = app.node.tryGetContext('queuePrefix') as string | undefined;

new StratusStack(app, stackName, {
  queuePrefix,
  // Unset offline: the template is then environment-agnostic, which is all synth needs.
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  description: 'Stratus: a Kubernetes-compatible control plane on Lambda, DynamoDB and SQS',
});

app.synth();
