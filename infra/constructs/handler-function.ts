import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { apiBundlingOptions, bundlingOptions, functionProps, logGroupProps } from '../defaults';
import type { FunctionWiring } from '../wiring';

/** The repository root: NodejsFunction's projectRoot, and where wiring entries are relative to. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Supplies a function's code instead of bundling its wiring entry. For unit tests only: synthesis
 * then needs neither the handler files nor esbuild, and stays fast. The real app leaves it unset.
 */
export type CodeFor = (w: FunctionWiring) => lambda.Code;

/** What every component construct (ApiFunction, StreamConsumer, ScheduledFunction) takes. */
export interface HandlerFunctionProps {
  /** The wiring row: entry, handler, memory, timeout. */
  readonly wiring: FunctionWiring;
  /** Environment variables (table names, queue prefix); NODE_OPTIONS is added. */
  readonly environment: Readonly<Record<string, string>>;
  /**
   * Code to use instead of bundling `wiring.entry` with esbuild.
   * @default - NodejsFunction bundles the entry with the local esbuild
   */
  readonly codeFor?: CodeFor;
}

/**
 * Builds the Lambda function of one wiring row with the defaults of infra/defaults.ts:
 * a NodejsFunction bundling `wiring.entry` (ESM, node22, minified, source maps, local esbuild),
 * or, with `codeFor`, a plain Function with the same runtime, architecture, memory, timeout,
 * tracing, logging and environment. Each function gets its own log group with a retention, and
 * Lambda's own (system) log lines only from WARN up.
 */
export function createHandlerFunction(scope: Construct, props: HandlerFunctionProps): lambda.Function {
  const w = props.wiring;
  const logGroup = new logs.LogGroup(scope, 'Logs', logGroupProps);
  const common = {
    ...functionProps(w, props.environment),
    logGroup,
    // With JSON logging Lambda writes platform `start`/`report` lines (about 1 KB) for every
    // invocation at INFO; at WARN only platform problems (timeouts, crashes) are logged. Most
    // invocations are stream batches that do little, so this is most of the log ingestion bill
    // (docs/cost.md). The handlers' own JSON lines are application logs and unaffected.
    systemLogLevelV2: lambda.SystemLogLevel.WARN,
  };
  if (props.codeFor) {
    return new lambda.Function(scope, 'Function', {
      ...common,
      code: props.codeFor(w),
      handler: `index.${w.handler}`,
    });
  }
  return new NodejsFunction(scope, 'Function', {
    ...common,
    entry: path.join(repoRoot, w.entry),
    handler: w.handler,
    projectRoot: repoRoot,
    depsLockFilePath: path.join(repoRoot, 'package-lock.json'),
    // The api function also ships the dashboard's static files (infra/defaults.ts).
    bundling: w.name === 'api' ? apiBundlingOptions : bundlingOptions,
  });
}
