import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { Trigger } from '../wiring';
import { createHandlerFunction, type HandlerFunctionProps } from './handler-function';

type HttpTrigger = Extract<Trigger, { type: 'http' }>;

export interface ApiFunctionProps extends HandlerFunctionProps {
  /** The row's HTTP trigger; `streaming` selects the Function URL's invoke mode. */
  readonly trigger: HttpTrigger;
}

/**
 * An HTTP-triggered handler behind a Lambda Function URL (payload format 2.0, the event the
 * local runtime also produces).
 *
 * authType NONE, on purpose: kubectl and the Kubernetes clients authenticate with bearer tokens
 * (`Authorization: Bearer ...`) that the api function itself checks (hashed tokens in `objects`,
 * per tenant), before RBAC and admission. AWS_IAM would require SigV4-signed requests, which no
 * Kubernetes client can make. NONE only means "Lambda does not authenticate"; every request
 * without a valid token gets a Kubernetes 401 Status from the function.
 *
 * Invoke mode RESPONSE_STREAM when the trigger says `streaming` (watch and logs stream for up to
 * 15 minutes; API Gateway would cut them at 29 s), BUFFERED otherwise.
 */
export class ApiFunction extends Construct {
  public readonly function: lambda.Function;
  public readonly url: lambda.FunctionUrl;

  constructor(scope: Construct, id: string, props: ApiFunctionProps) {
    super(scope, id);
    this.function = createHandlerFunction(this, props);
    this.url = this.function.addFunctionUrl({
      authType: lambda.FunctionUrlAuthType.NONE,
      invokeMode: props.trigger.streaming ? lambda.InvokeMode.RESPONSE_STREAM : lambda.InvokeMode.BUFFERED,
    });
  }
}
