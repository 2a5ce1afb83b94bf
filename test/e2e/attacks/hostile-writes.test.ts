import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, uniqueName } from '../../helpers/api';
import { kubectl } from '../../helpers/kubectl';

/*
 * Issue #16's judge: writes an attacker (or a careless client) sends to move an object to
 * another identity or to put a pod's files outside its volume. Each answer is kube-apiserver's:
 * a uid in a PUT body is a precondition (409), a patch cannot rename, re-namespace or re-uid an
 * object (400/422), and a pod whose volume item paths or subPaths climb out of their volume is
 * refused by the API (422), not only later by the node agent.
 */
let api: Api;
let ns: string;

const configMap = (name: string, extra: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...extra }, data: { a: 'b' } });

beforeAll(async () => {
  api = Api.forTenant('default');
  ns = uniqueName('hostile');
  expect((await api.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })).status).toBe(201);
});

afterAll(async () => {
  await api.delete(`/api/v1/namespaces/${ns}`);
});

describe('writes that aim at another object', () => {
  it('a PUT whose uid is not the stored one is a failed precondition (409), and the object is unchanged', async () => {
    // Prepare
    const created = await api.post(`/api/v1/namespaces/${ns}/configmaps`, configMap('put-uid'));
    expect(created.status).toBe(201);
    const uid = created.body.metadata.uid as string;
    const other = '00000000-0000-0000-0000-000000000000';
    // Act
    const res = await api.put(`/api/v1/namespaces/${ns}/configmaps/put-uid`, { ...configMap('put-uid', { uid: other }), data: { a: 'changed' } });
    const after = await api.get(`/api/v1/namespaces/${ns}/configmaps/put-uid`);
    const same = await api.put(`/api/v1/namespaces/${ns}/configmaps/put-uid`, { ...configMap('put-uid', { uid }), data: { a: 'same-uid' } });
    // Assess
    expect(res.status, res.text).toBe(409);
    expect(res.body.reason).toBe('Conflict');
    expect(res.body.message).toBe(`Operation cannot be fulfilled on configmaps "put-uid": Precondition failed: UID in precondition: ${other}, UID in object meta: ${uid}`);
    expect(after.body.data).toEqual({ a: 'b' });
    expect(same.status, same.text).toBe(200);
  });

  it.each([
    ['a new name', { metadata: { name: 'renamed' } }, 400, 'BadRequest', 'the name of the object (renamed) does not match the name on the URL (patched)'],
    ['another namespace', { metadata: { namespace: 'kube-system' } }, 400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request'],
    ['another uid', { metadata: { uid: '00000000-0000-0000-0000-000000000000' } }, 422, 'Invalid', 'ConfigMap "patched" is invalid: metadata.uid: Invalid value: "00000000-0000-0000-0000-000000000000": field is immutable'],
  ])('a patch to %s is refused in kube-apiserver\'s words', async (_what, patch, code, reason, message) => {
    // Prepare
    await api.delete(`/api/v1/namespaces/${ns}/configmaps/patched`);
    expect((await api.post(`/api/v1/namespaces/${ns}/configmaps`, configMap('patched'))).status).toBe(201);
    // Act
    const res = await api.patch(`/api/v1/namespaces/${ns}/configmaps/patched`, { ...patch, data: { a: 'changed' } });
    const after = await api.get(`/api/v1/namespaces/${ns}/configmaps/patched`);
    // Assess
    expect(res.status, res.text).toBe(code);
    expect(res.body.reason).toBe(reason);
    expect(res.body.message).toBe(message);
    expect(after.body.data).toEqual({ a: 'b' });
    expect((await api.get(`/api/v1/namespaces/kube-system/configmaps/patched`)).status).toBe(404);
  });
});

describe('pod files outside their volume', () => {
  const podYaml = (name: string, volume: string, mount = '') => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${ns}}
spec:
  containers:
  - name: c
    image: stratus-test/busybox:1.36
    command: [sleep, "3600"]
    volumeMounts: [{name: v, mountPath: /v${mount}}]
  volumes:
  - name: v
    ${volume}
`;

  it.each([
    ['a configMap item climbing out', 'configMap: {name: cm, items: [{key: x, path: "../../../../tmp/pwned"}]}', '', `spec.volumes[0].configMap.items[0].path: Invalid value: "../../../../tmp/pwned": must not contain '..'`],
    ['a secret item at an absolute path', 'secret: {secretName: s, items: [{key: x, path: "/etc/pwned"}]}', '', 'spec.volumes[0].secret.items[0].path: Invalid value: "/etc/pwned": must be a relative path'],
    ['an item named ..data (the atomic writer\'s link)', 'configMap: {name: cm, items: [{key: x, path: "..data"}]}', '', `spec.volumes[0].configMap.items[0].path: Invalid value: "..data": must not start with '..'`],
    ['a downwardAPI item climbing out', 'downwardAPI: {items: [{path: "../pwned", fieldRef: {fieldPath: metadata.name}}]}', '', `spec.volumes[0].downwardAPI.path: Invalid value: "../pwned": must not contain '..'`],
    ['a subPath climbing out', 'emptyDir: {}', ', subPath: "../../.."', `spec.containers[0].volumeMounts[0].subPath: Invalid value: "../../..": must not contain '..'`],
  ])('kubectl apply of %s is refused with 422', async (_what, volume, mount, cause) => {
    // Prepare
    const name = uniqueName('trav');
    // Act
    const run = await kubectl(['apply', '-f', '-'], { input: podYaml(name, volume, mount) });
    // Assess
    expect(run.code, run.stdout).not.toBe(0);
    expect(run.stderr).toContain(`The Pod "${name}" is invalid: ${cause}`);
    expect((await api.get(`/api/v1/namespaces/${ns}/pods/${name}`)).status).toBe(404);
  });
});

describe('continue tokens made by hand', () => {
  const token = (after: string) => Buffer.from(JSON.stringify({ rv: 1, after })).toString('base64url');

  it.each([
    ['another namespace', 'kube-system/kube-root-ca.crt'],
    ['a climb out of the namespace', `NS/../kube-system/x`],
    ['no namespace part', 'x'],
    ['a key past every namespace', 'zzzz'],
  ])('one naming %s is 400, not a 500 or another namespace\'s objects', async (_what, after) => {
    // Act
    const res = await api.get(`/api/v1/namespaces/${ns}/configmaps?limit=5&continue=${token(after.replace('NS', ns))}`);
    // Assess
    expect(res.status, res.text).toBe(400);
    expect(res.body.reason).toBe('BadRequest');
    expect(res.body.message).toBe(`continue key is not valid: ${after.replace('NS', ns)}`);
  });

  it('the tokens the server makes still page through a namespace and a cluster-scoped kind', async () => {
    // Prepare
    for (const name of ['page-a', 'page-b']) await api.post(`/api/v1/namespaces/${ns}/configmaps`, configMap(name));
    // Act
    const first = await api.get(`/api/v1/namespaces/${ns}/configmaps?limit=1`);
    const rest = await api.get(`/api/v1/namespaces/${ns}/configmaps?limit=50&continue=${first.body.metadata.continue}`);
    const nsFirst = await api.get('/api/v1/namespaces?limit=1');
    const nsRest = await api.get(`/api/v1/namespaces?limit=1&continue=${nsFirst.body.metadata.continue}`);
    // Assess
    expect(rest.status, rest.text).toBe(200);
    expect(rest.body.items.every((o: { metadata: { namespace: string } }) => o.metadata.namespace === ns)).toBe(true);
    expect(rest.body.items.map((o: { metadata: { name: string } }) => o.metadata.name)).toContain('page-b');
    expect(nsRest.status, nsRest.text).toBe(200);
    expect(nsRest.body.items).toHaveLength(1);
  });
});
