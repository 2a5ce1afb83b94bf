import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Api, uniqueName } from '../helpers/api';

/*
 * Issue #14 section D: bad input gets a 4xx Kubernetes Status, never a 5xx, a dropped socket or a
 * stalled process; and section C's query parameter codec and JSON encoding, as a raw HTTPS
 * client sees them through the local Function URL.
 */
let api: Api;
let ns: string;

const configMap = (name: string, extra: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...extra }, data: { a: 'b' } });
const deepJson = (n: number) => '['.repeat(n) + ']'.repeat(n);
const billionLaughs = (() => {
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 10; i++) {
    const prev = String.fromCharCode(96 + i);
    const cur = String.fromCharCode(97 + i);
    lines.push(`${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(',')}]`);
  }
  return lines.join('\n');
})();
const yaml = { 'content-type': 'application/yaml' };
/** The first event of a watch body (it opens with a blank line). */
const firstEvent = (text: string) => JSON.parse(text.split('\n').find((l) => l.trim()) ?? 'null') as { type: string; object: { metadata: { name: string } } };

/** Sends raw bytes over TLS and returns the status code of the answer (0 when the socket closed without one). */
function rawStatus(requestText: string): Promise<{ code: number; text: string }> {
  const stack = inject('stack');
  const url = new URL(stack.apiUrl);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port), ca: stack.caCert, servername: url.hostname }, () => socket.end(requestText));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (text += c));
    socket.on('error', (e: Error) => (text ? resolve({ code: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text }) : reject(e)));
    socket.on('close', () => resolve({ code: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text }));
  });
}

beforeAll(async () => {
  api = Api.forTenant('default');
  ns = uniqueName('bad');
  expect((await api.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })).status).toBe(201);
  expect((await api.post(`/api/v1/namespaces/${ns}/configmaps`, configMap('kept'))).status).toBe(201);
});

afterAll(async () => {
  await api.delete(`/api/v1/namespaces/${ns}`);
});

describe('boolean query parameters, as Kubernetes parameter codec reads them', () => {
  it.each(['watch=True', 'watch=yes', 'watch=', 'watch=1'])('GET ?%s&timeoutSeconds=1 is a watch', async (q) => {
    // Act
    const res = await api.get(`/api/v1/namespaces/${ns}/configmaps?${q}&timeoutSeconds=1`);
    // Assess: a stream of events, not a list
    expect(res.status).toBe(200);
    const first = firstEvent(res.text);
    expect(first.type).toBe('ADDED');
    expect(first.object.metadata.name).toBe('kept');
  });

  it.each(['watch=false', 'watch=FALSE', 'watch=0'])('GET ?%s is a list', async (q) => {
    // Act
    const res = await api.get(`/api/v1/namespaces/${ns}/configmaps?${q}`);
    // Assess
    expect(res.status).toBe(200);
    expect(res.body.kind).toBe('ConfigMapList');
  });

  it('takes allowWatchBookmarks=yes (not a 400)', async () => {
    // Act
    const res = await api.get(`/api/v1/namespaces/${ns}/configmaps?watch=true&allowWatchBookmarks=yes&timeoutSeconds=1`);
    // Assess
    expect(res.status).toBe(200);
    expect(firstEvent(res.text).type).toBe('ADDED');
  });

  it('pretty-prints for ?pretty=true, and ?pretty=yes is not pretty', async () => {
    // Act
    const pretty = await api.get(`/api/v1/namespaces/${ns}/configmaps/kept?pretty=true`);
    const invalid = await api.get(`/api/v1/namespaces/${ns}/configmaps/kept?pretty=yes`);
    // Assess
    expect(pretty.text).toMatch(/^\{\n {2}"/);
    expect(JSON.parse(pretty.text).kind).toBe('ConfigMap');
    expect(pretty.text.endsWith('}')).toBe(true);
    expect(invalid.text).toMatch(/^\{"[^\n]*\}\n$/);
  });
});

describe('JSON encoding', () => {
  it('ends JSON responses with a newline, and a core Status has no empty group', async () => {
    // Act
    const found = await api.get(`/api/v1/namespaces/${ns}/configmaps/kept`);
    const missing = await api.get(`/api/v1/namespaces/${ns}/configmaps/nope`);
    // Assess
    expect(found.text.endsWith('}\n')).toBe(true);
    expect(missing.status).toBe(404);
    expect(missing.text).toBe(
      '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"configmaps \\"nope\\" not found","reason":"NotFound","details":{"name":"nope","kind":"configmaps"},"code":404}\n',
    );
  });
});

describe('bad input', () => {
  it('refuses a billion-laughs YAML document with 400 while other requests are served', async () => {
    // Act: the bomb and an ordinary read at once
    const [bomb, read] = await Promise.all([
      api.post(`/api/v1/namespaces/${ns}/configmaps`, billionLaughs, yaml),
      api.get(`/api/v1/namespaces/${ns}/configmaps/kept`),
    ]);
    // Assess
    expect(bomb.status).toBe(400);
    expect(bomb.body.message).toContain('yaml: document contains excessive aliasing');
    expect(read.status).toBe(200);
  });

  it('keeps the object when DELETE carries a body that is not DeleteOptions', async () => {
    // Prepare
    const name = uniqueName('del');
    expect((await api.post(`/api/v1/namespaces/${ns}/configmaps`, configMap(name))).status).toBe(201);
    // Act
    const res = await api.delete(`/api/v1/namespaces/${ns}/configmaps/${name}`, { apiVersion: 'v1', kind: 'Pod', metadata: { name } });
    // Assess
    expect(res.status).toBe(400);
    expect((await api.get(`/api/v1/namespaces/${ns}/configmaps/${name}`)).status).toBe(200);
    // and a DeleteOptions body deletes
    expect((await api.delete(`/api/v1/namespaces/${ns}/configmaps/${name}`, { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' })).status).toBe(200);
  });

  it('refuses annotations over 256 KiB with 422 in Kubernetes words', async () => {
    // Act
    const res = await api.post(`/api/v1/namespaces/${ns}/configmaps`, configMap('big', { annotations: { a: 'x'.repeat(257 * 1024) } }));
    // Assess
    expect(res.status).toBe(422);
    expect(res.body.message).toBe('ConfigMap "big" is invalid: metadata.annotations: Too long: must have at most 262144 bytes');
  });

  it('rejects unknown fields at depth under fieldValidation=Strict', async () => {
    // Act
    const res = await api.post(`/api/v1/namespaces/${ns}/pods?fieldValidation=Strict`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'strict' },
      spec: { schedulerName: 'nobody', containers: [{ name: 'c', image: 'stratus-test/busybox:1.36', bogusField: 1 }] },
    });
    // Assess
    expect(res.status).toBe(400);
    expect(res.body.message).toContain('strict decoding error: unknown field "spec.containers[0].bogusField"');
  });

  it('words a body of the wrong format or kind as Kubernetes does', async () => {
    // Act
    const yamlAsJson = await api.post('/api/v1/namespaces', 'apiVersion: v1\nkind: Pod\n');
    const pod = await api.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } });
    // Assess
    expect(yamlAsJson.status).toBe(400);
    expect(yamlAsJson.body.message).toMatch(/^the object provided is unrecognized \(must be of type Namespace\): couldn't get version\/kind; json parse error: invalid character 'a' looking for beginning of value \(/);
    expect(pod.status).toBe(400);
    expect(pod.body.message).toContain('Pod in version "v1" cannot be handled as a Namespace');
  });

  it('refuses a label selector Kubernetes refuses, with its message', async () => {
    // Act
    const res = await api.get(`/api/v1/namespaces/${ns}/configmaps?labelSelector=${encodeURIComponent('a==b==c')}`);
    // Assess
    expect(res.status).toBe(400);
    expect(res.body.message).toBe("found '==', expected: ',' or 'end of string'");
  });

  it('answers a URL over 16 KiB with 414 and headers over 64 KiB with 431, not a closed socket', async () => {
    // Prepare
    const stack = inject('stack');
    const host = new URL(stack.apiUrl).host;
    const auth = `Bearer ${stack.adminToken}`;
    // Act
    const longUrl = await rawStatus(`GET /clusters/default/api/v1/namespaces?x=${'a'.repeat(20 * 1024)} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${auth}\r\nConnection: close\r\n\r\n`);
    const bigHeaders = await rawStatus(`GET /clusters/default/api/v1/namespaces HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${auth}\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\nConnection: close\r\n\r\n`);
    const garbage = await rawStatus('NOT HTTP AT ALL\r\n\r\n');
    // Assess
    expect(longUrl.code).toBe(414);
    expect(bigHeaders.code).toBe(431);
    expect(bigHeaders.text).toContain('"kind":"Status"');
    expect(garbage.code).toBe(400);
  });
});

/** The probe: hostile requests, each with the code Kubernetes gives (or ours, where stated), never a 5xx. */
describe('hostile request probe', () => {
  const long = 'a'.repeat(300);
  const longNs = 'n'.repeat(2000);
  const cm = () => `/api/v1/namespaces/${ns}/configmaps`;
  const continueToken = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  type Probe = [string, string, () => string, (string | Buffer | object)?, Record<string, string>?];
  const probes: [number, ...Probe][] = [
    [400, 'malformed escape in a name', 'GET', () => '/api/v1/namespaces/%ZZ'],
    [400, 'truncated UTF-8 escape', 'GET', () => `${cm()}/%E0%A4%A`],
    [400, 'malformed escape in the cluster', 'GET', () => '/../%ZZ/api/v1/namespaces'],
    [400, 'name with a percent sign', 'GET', () => `${cm()}/a%25b`],
    [404, 'get of a name over 253 characters', 'GET', () => `${cm()}/${long}`],
    [404, 'update of a name over 253 characters', 'PUT', () => `${cm()}/${long}`, configMap(long)],
    [404, 'patch of a name over 253 characters', 'PATCH', () => `${cm()}/${long}`, { data: { a: 'c' } }, { 'content-type': 'application/merge-patch+json' }],
    [404, 'delete of a name over 253 characters', 'DELETE', () => `${cm()}/${long}`],
    [404, 'get of a 10 000 character name', 'GET', () => `${cm()}/${'b'.repeat(10_000)}`],
    [404, 'get in a namespace over 63 characters', 'GET', () => `/api/v1/namespaces/${longNs}/configmaps/x`],
    [200, 'list in a namespace that cannot exist', 'GET', () => `/api/v1/namespaces/${longNs}/configmaps`],
    [404, 'create in a namespace that cannot exist', 'POST', () => `/api/v1/namespaces/${longNs}/configmaps`, configMap('x')],
    [422, 'create with a name over 253 characters', 'POST', () => cm(), configMap(long)],
    [422, 'namespace with a 2000 character name', 'POST', () => '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: longNs } }],
    [400, 'continue token that is not base64 JSON', 'GET', () => `${cm()}?limit=1&continue=garbage`],
    [400, 'continue token with a 5000 byte key', 'GET', () => `${cm()}?limit=1&continue=${continueToken({ rv: 1, after: 'x'.repeat(5000) })}`],
    [400, 'continue token with a negative version', 'GET', () => `${cm()}?limit=1&continue=${continueToken({ rv: -5, after: 'a/b' })}`],
    [400, 'negative limit', 'GET', () => `${cm()}?limit=-1`],
    [400, 'label selector a==b==c', 'GET', () => `${cm()}?labelSelector=a%3D%3Db%3D%3Dc`],
    [400, 'field selector a==b==c', 'GET', () => `${cm()}?fieldSelector=a%3D%3Db%3D%3Dc`],
    [400, 'unclosed label set', 'GET', () => `${cm()}?labelSelector=a%20in%20(b`],
    [400, 'label selector on a watch', 'GET', () => `${cm()}?watch=true&labelSelector=a%3D%3Db%3D%3Dc`],
    [400, 'watch from a version that is not a number', 'GET', () => `${cm()}?watch=1&resourceVersion=abc`],
    [400, 'watch timeout that is not a number', 'GET', () => `${cm()}?watch=1&timeoutSeconds=soon`],
    [400, 'JSON nested 100 000 deep', 'POST', () => cm(), deepJson(100_000)],
    [400, 'JSON nested 1001 deep in a field', 'POST', () => cm(), `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d","annotations":${deepJson(1001)}}}`],
    [400, 'YAML nested 100 000 deep', 'POST', () => cm(), deepJson(100_000), yaml],
    [400, 'YAML billion laughs', 'POST', () => cm(), billionLaughs, yaml],
    [400, 'truncated JSON', 'POST', () => cm(), '{"apiVersion":'],
    [400, 'not JSON at all', 'POST', () => cm(), 'hello'],
    [400, 'empty body', 'POST', () => cm(), ''],
    [400, 'a JSON array', 'POST', () => cm(), '[]'],
    [400, 'a JSON string', 'POST', () => cm(), '"configmap"'],
    [400, 'a body of another kind', 'POST', () => cm(), { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } }],
    [400, 'a kind the group does not have', 'POST', () => cm(), { apiVersion: 'apps/v1', kind: 'ConfigMap', metadata: { name: 'x' } }],
    [400, 'kind that is a number', 'POST', () => cm(), { apiVersion: 'v1', kind: 5, metadata: { name: 'x' } }],
    [415, 'text/plain body', 'POST', () => cm(), 'x', { 'content-type': 'text/plain' }],
    [413, 'body over 3 MiB', 'POST', () => cm(), Buffer.alloc(3 * 1024 * 1024 + 10, 0x20)],
    [413, 'body over 6 MiB (the Lambda limit)', 'POST', () => cm(), Buffer.alloc(7 * 1024 * 1024, 0x20)],
    [422, 'annotations over 256 KiB', 'POST', () => cm(), configMap('ann', { annotations: { a: 'x'.repeat(300 * 1024) } })],
    [400, 'unknown field under Strict', 'POST', () => `${cm()}?fieldValidation=Strict`, configMap('s', { bogus: 1 })],
    [400, 'unknown fieldValidation', 'POST', () => `${cm()}?fieldValidation=Bogus`, configMap('s')],
    [400, 'unknown dryRun', 'POST', () => `${cm()}?dryRun=Bogus`, configMap('s')],
    [400, 'JSON patch that is not an array', 'PATCH', () => `${cm()}/kept`, {}, { 'content-type': 'application/json-patch+json' }],
    [400, 'merge patch nested 100 000 deep', 'PATCH', () => `${cm()}/kept`, `{"data":${deepJson(100_000)}}`, { 'content-type': 'application/merge-patch+json' }],
    [400, 'DELETE with a Pod body', 'DELETE', () => `${cm()}/kept`, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'kept' } }],
    [400, 'DELETE with a string grace period', 'DELETE', () => `${cm()}/kept`, { gracePeriodSeconds: 'soon' }],
    [400, 'DELETE with a JSON array body', 'DELETE', () => `${cm()}/kept`, '[1,2]'],
    [400, 'PUT whose name differs from the URL', 'PUT', () => `${cm()}/kept`, configMap('other')],
    [404, 'unknown resource', 'GET', () => '/api/v1/bogus'],
  ];

  it.each(probes)('%i for %s', async (expected, _what, method, path, body, headers) => {
    // Act
    const res = await api.send(method, path(), body, headers);
    // Assess
    expect(res.status, res.text.slice(0, 300)).toBe(expected);
    if (expected !== 200) expect(res.body.kind, res.text.slice(0, 300)).toBe('Status');
  });

  it('left the object every hostile DELETE aimed at', async () => {
    // Act + Assess
    expect((await api.get(`${cm()}/kept`)).status).toBe(200);
  });
});
