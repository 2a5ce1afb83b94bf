import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';

// The handler module builds its middy chain at import, which needs the Lambda runtime's global.
vi.hoisted(() => {
  (globalThis as Record<string, unknown>).awslambda ??= { streamifyResponse: (f: unknown) => f };
});
import { toApiRequest } from '../../functions/api/handler';
import { kubeletHeaders } from '../../functions/api/pod-proxy';
import { requestIdOf } from '../../node-agent/kubelet-server';

// The API's request id reaches the node agent, whose log lines for that call then carry it.
describe('request id from the API to the agent', () => {
  const event = {
    rawPath: '/clusters/acme/api/v1/namespaces/default/pods/p/log',
    rawQueryString: '',
    headers: {},
    requestContext: { requestId: 'req-123', http: { method: 'GET' } },
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;

  it('the api request carries the Function URL event request id', () => {
    expect(toApiRequest(event).requestId).toBe('req-123');
  });

  it.each([
    ['req-123', { 'user-agent': 'stratus-apiserver', 'x-request-id': 'req-123' }],
    [undefined, { 'user-agent': 'stratus-apiserver' }],
  ])('kubelet call headers for request id %s', (id, want) => {
    expect(kubeletHeaders(id)).toEqual(want);
  });

  it('the agent takes the forwarded id as its requestId', () => {
    expect(requestIdOf(kubeletHeaders('req-123')['x-request-id'])).toBe('req-123');
  });
});
