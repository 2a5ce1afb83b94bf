import { beforeAll, describe, expect, it } from 'vitest';
import { Api, eventually, uniqueName } from '../../helpers/api';
import { kubectl } from '../../helpers/kubectl';

/*
 * Issue #16's judge, as a Kubernetes client: answers to requests Stratus does not serve or
 * refuses must be the ones clients are written against. A 404 for a path it does not serve
 * carries kube-apiserver's message and an empty `details` (kubectl debug crashed on a Status
 * without it); a log query kube-apiserver refuses is its 422, before any node is asked.
 */
let api: Api;

beforeAll(() => {
  api = Api.forTenant('default');
});

describe('answers a client reads', () => {
  it('a path that is not served is 404 with kube-apiserver\'s message and an empty details', async () => {
    // Act
    const res = await api.get('/api/v1/namespaces/default/pods/nothing-here/ephemeralcontainers');
    const unknown = await api.get('/api/v1/nosuchresources');
    // Assess
    for (const r of [res, unknown]) {
      expect(r.status).toBe(404);
      expect(r.body).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'the server could not find the requested resource', reason: 'NotFound', details: {}, code: 404 });
    }
  });

  it('an unauthenticated request is 401 whatever its path, as kube-apiserver authenticates first', async () => {
    // Prepare
    const anonymous = new Api(api.base, undefined, api.ca);
    const wrong = new Api(api.base, 'st_not-a-token', api.ca);
    // Act
    const replies = await Promise.all([anonymous.get('/api/v1/nosuchresources'), anonymous.get('/apis/nosuch.example.com/v1/things'), wrong.get('/api/v1/namespaces/default/pods/x/nosuchsubresource')]);
    // Assess
    for (const r of replies) {
      expect(r.status, r.text).toBe(401);
      expect(r.body.reason).toBe('Unauthorized');
    }
  });

  it('kubectl debug says ephemeral containers are not served instead of crashing', async () => {
    // Prepare
    const name = uniqueName('dbg');
    const created = await api.post('/api/v1/namespaces/default/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'c', image: 'stratus-test/busybox:1.36', command: ['sleep', '3600'] }] } });
    expect(created.status, created.text).toBe(201);
    // Act
    const run = await kubectl(['debug', name, '--image=stratus-test/busybox:1.36', '--', 'true']);
    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).not.toContain('panic');
    expect(run.stderr).toContain('ephemeral containers are disabled for this cluster');
    await api.delete(`/api/v1/namespaces/default/pods/${name}?gracePeriodSeconds=0`);
  });

  it.each([
    ['tailLines=-1', 'PodLogOptions "any" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0'],
    ['limitBytes=0', 'PodLogOptions "any" is invalid: limitBytes: Invalid value: 0: must be greater than 0'],
    ['sinceSeconds=0', 'PodLogOptions "any" is invalid: sinceSeconds: Invalid value: 0: must be greater than 0'],
    ['sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z', 'PodLogOptions "any" is invalid: : Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified'],
  ])('GET pods/any/log?%s is 422 in kube-apiserver\'s words', async (q, message) => {
    // Act
    const res = await api.get(`/api/v1/namespaces/default/pods/any/log?${q}`);
    // Assess
    expect(res.status, res.text).toBe(422);
    expect(res.body.reason).toBe('Invalid');
    expect(res.body.message).toBe(message);
  });

  it('a list with a resourceVersionMatch kube-apiserver refuses is its 422 ListOptions', async () => {
    // Act
    const res = await api.get('/api/v1/namespaces/default/configmaps?resourceVersion=1&resourceVersionMatch=Bogus');
    const ok = await api.get('/api/v1/namespaces/default/configmaps?resourceVersion=0&resourceVersionMatch=NotOlderThan');
    // Assess
    expect(res.status, res.text).toBe(422);
    expect(res.body.message).toBe('ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Unsupported value: "Bogus": supported values: "Exact", "NotOlderThan", ""');
    expect(ok.status, ok.text).toBe(200);
  });

  it('a body or a patch in a format not read is 415 listing what kube-apiserver accepts', async () => {
    // Act
    const body = await api.post('/api/v1/namespaces/default/configmaps', '<configmap/>', { 'content-type': 'application/xml' });
    const patch = await api.send('PATCH', '/api/v1/namespaces/default/configmaps/any', '{}', { 'content-type': 'text/plain' });
    // Assess
    expect(body.status, body.text).toBe(415);
    expect(body.body.message).toBe('the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf');
    expect(patch.status, patch.text).toBe(415);
    expect(patch.body.message).toBe(
      'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml',
    );
  });

  it('a role limited to one Secret by name may list and watch it by metadata.name, and nothing else', async () => {
    // Prepare
    const ns = uniqueName('onesecret');
    expect((await api.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })).status).toBe(201);
    for (const name of ['mine', 'other']) expect((await api.post(`/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData: { k: name } })).status).toBe(201);
    expect((await api.post(`/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reader' } })).status).toBe(201);
    const rules = [{ apiGroups: [''], resources: ['secrets'], resourceNames: ['mine'], verbs: ['get', 'list', 'watch'] }];
    expect((await api.post(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'reader' }, rules })).status).toBe(201);
    const binding = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'reader' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reader' }, subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns }] };
    expect((await api.post(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, binding)).status).toBe(201);
    const issued = await api.post(`/api/v1/namespaces/${ns}/serviceaccounts/reader/token`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {} });
    const reader = new Api(api.base, issued.body.status.token as string, api.ca);
    const base = `/api/v1/namespaces/${ns}/secrets`;
    await eventually(async () => ((await reader.get(`${base}/mine`)).status === 200 ? true : undefined), 10_000, 'the binding in effect');
    // Act
    const listed = await reader.get(`${base}?fieldSelector=metadata.name%3Dmine`);
    const watched = await reader.get(`${base}?watch=1&timeoutSeconds=1&fieldSelector=metadata.name%3Dmine`);
    const all = await reader.get(base);
    const other = await reader.get(`${base}?fieldSelector=metadata.name%3Dother`);
    const both = await reader.get(`${base}?fieldSelector=metadata.name%3Dmine,metadata.name%3Dother`);
    // Assess
    expect(listed.status, listed.text).toBe(200);
    expect(listed.body.items.map((o: { metadata: { name: string } }) => o.metadata.name)).toEqual(['mine']);
    expect(watched.status, watched.text).toBe(200);
    expect(watched.text).toContain('"name":"mine"');
    expect(watched.text).not.toContain('"name":"other"');
    expect(all.status).toBe(403);
    expect(other.status).toBe(403);
    expect(other.body.message).toBe(`secrets "other" is forbidden: User "system:serviceaccount:${ns}:reader" cannot list resource "secrets" in API group "" in the namespace "${ns}"`);
    expect(both.status, both.text).toBe(200);
    expect(both.body.items).toEqual([]);
    await api.delete(`/api/v1/namespaces/${ns}`);
  });
});

