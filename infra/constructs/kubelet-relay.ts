import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { Trigger } from '../wiring';
import { createHandlerFunction, type HandlerFunctionProps } from './handler-function';

type WebSocketTrigger = Extract<Trigger, { type: 'websocket' }>;

export interface KubeletRelayProps extends HandlerFunctionProps {
  readonly trigger: WebSocketTrigger;
  /** Where node tokens are (the node side's credential is looked up there): read only. */
  readonly objects: dynamodb.ITable;
}

/**
 * The kubelet relay (docs/exec.md, "every API → agent call through the outbound relay"): an API
 * Gateway WebSocket API whose `$connect`, `$default` and `$disconnect` routes all invoke the
 * wiring row's function (functions/relay/handler.ts) through a Lambda proxy integration, one
 * stage, and the function's right to post to and close this API's connections (and no other's).
 *
 * No route authorizer on purpose: `$connect` itself admits or refuses a side (the session's
 * one-time key, or a node credential naming the session's node), and `$default`/`$disconnect`
 * cannot have one; the bytes relayed are mutual TLS the relay cannot read.
 */
export class KubeletRelay extends Construct {
  public readonly function: lambda.Function;
  public readonly api: apigwv2.WebSocketApi;
  public readonly stage: apigwv2.WebSocketStage;

  constructor(scope: Construct, id: string, props: KubeletRelayProps) {
    super(scope, id);
    this.function = createHandlerFunction(this, props);
    const integration = (name: string) => new WebSocketLambdaIntegration(name, this.function);
    this.api = new apigwv2.WebSocketApi(this, 'Api', {
      description: 'Stratus kubelet relay: API -> node agent calls over the agents\' outbound connections',
      connectRouteOptions: { integration: integration('ConnectIntegration') },
      disconnectRouteOptions: { integration: integration('DisconnectIntegration') },
      defaultRouteOptions: { integration: integration('DefaultIntegration') },
    });
    this.stage = new apigwv2.WebSocketStage(this, 'Stage', {
      webSocketApi: this.api,
      stageName: props.trigger.stage,
      autoDeploy: true,
    });
    // execute-api:ManageConnections on this API's connections only (PostToConnection, DeleteConnection).
    this.api.grantManageConnections(this.function);
    props.objects.grantReadData(this.function);
  }

  /** wss://ID.execute-api.REGION.amazonaws.com/STAGE: what the api function and the agents dial. */
  get url(): string {
    return this.stage.url;
  }
}
