import { describe, expect, it } from 'vitest';
import { isStatusError } from '../../shared/errors';
import { decodeProtobuf } from '../../functions/api/protobuf';
import { decodeBody } from '../../functions/api/request';

/* A tiny protobuf writer, to build bodies the way Go's generated marshallers do. */
const varint = (n: number | bigint): Buffer => {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Buffer.from(out);
};
const key = (num: number, wire: number) => varint((num << 3) | wire);
const str = (num: number, s: string | Buffer) => {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8');
  return Buffer.concat([key(num, 2), varint(b.length), b]);
};
const int = (num: number, n: number | bigint) => Buffer.concat([key(num, 0), varint(n)]);
const msg = (num: number, ...parts: Buffer[]) => str(num, Buffer.concat(parts));
const entry = (num: number, k: string, v: Buffer | string) => msg(num, str(1, k), typeof v === 'string' ? str(2, v) : msg(2, v));
const envelope = (apiVersion: string, kind: string, raw: Buffer) =>
  Buffer.concat([Buffer.from('k8s\0', 'binary'), msg(1, str(1, apiVersion), str(2, kind)), str(2, raw), str(3, ''), str(4, '')]);

const statusOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    if (isStatusError(e)) return { code: e.code, reason: e.reason, message: e.message };
    throw e;
  }
  throw new Error('expected a StatusError');
};

describe('protobuf request bodies', () => {
  it('decodes the Namespace kubectl create namespace sends (bytes as captured from kubectl 1.32)', () => {
    // Prepare: kubectl create namespace foo -v=8, request body
    const body = Buffer.from(
      '6b3873000a0f0a0276311209' + '4e616d657370616365' + '121b0a130a03666f6f12001a0022002a00320038004200120' + '01a020a001a002200',
      'hex',
    );
    // Act
    const obj = decodeProtobuf(body);
    // Assess: empty Go fields are dropped as JSON's omitempty drops them
    expect(obj).toEqual({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'foo' } });
  });

  it('decodes a Pod with labels, containers, quantities and pointer fields set to zero', () => {
    // Prepare
    const meta = Buffer.concat([str(1, 'web'), str(3, 'shop'), entry(11, 'app', 'web'), msg(8)]);
    const container = Buffer.concat([
      str(1, 'main'),
      str(2, 'busybox'),
      str(3, 'sh'),
      str(3, '-c'),
      str(3, 'sleep 1'),
      msg(6, int(3, 8080), str(4, 'TCP')),
      msg(7, str(1, 'A'), str(2, '1')),
      msg(8, entry(1, 'cpu', str(1, '500m')), entry(2, 'memory', str(1, '64Mi'))),
      int(16, 0), // stdin: false, a non-pointer bool Go always writes
    ]);
    const spec = Buffer.concat([msg(2, container), str(3, 'Never'), int(4, 0), str(19, 'nobody'), int(30, 1)]);
    const body = envelope('v1', 'Pod', Buffer.concat([msg(1, meta), msg(2, spec), msg(3)]));
    // Act
    const obj = decodeProtobuf(body);
    // Assess
    expect(obj).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'shop', labels: { app: 'web' } },
      spec: {
        containers: [
          {
            name: 'main',
            image: 'busybox',
            command: ['sh', '-c', 'sleep 1'],
            ports: [{ containerPort: 8080, protocol: 'TCP' }],
            env: [{ name: 'A', value: '1' }],
            resources: { limits: { cpu: '500m' }, requests: { memory: '64Mi' } },
          },
        ],
        restartPolicy: 'Never',
        terminationGracePeriodSeconds: 0, // a pointer in Go: zero is a value
        schedulerName: 'nobody',
        enableServiceLinks: true,
      },
    });
  });

  it('decodes DeleteOptions with a negative-safe int64 and preconditions', () => {
    // Prepare
    const body = envelope('meta.k8s.io/v1', 'DeleteOptions', Buffer.concat([int(1, 5), msg(2, str(1, 'uid-1')), str(4, 'Foreground')]));
    // Act
    const obj = decodeProtobuf(body);
    // Assess
    expect(obj).toEqual({ apiVersion: 'meta.k8s.io/v1', kind: 'DeleteOptions', gracePeriodSeconds: 5, preconditions: { uid: 'uid-1' }, propagationPolicy: 'Foreground' });
  });

  it('decodes timestamps and int-or-string values', () => {
    // Prepare: a Deployment with a creationTimestamp and maxSurge "25%"
    const meta = Buffer.concat([str(1, 'd'), msg(8, int(1, 1_700_000_000))]);
    const strategy = msg(4, str(1, 'RollingUpdate'), msg(2, msg(1, int(1, 0), int(2, 1)), msg(2, int(1, 1), str(3, '25%'))));
    const body = envelope('apps/v1', 'Deployment', Buffer.concat([msg(1, meta), msg(2, int(1, 3), strategy)]));
    // Act
    const obj = decodeProtobuf(body) as { metadata: unknown; spec: unknown };
    // Assess
    expect(obj.metadata).toEqual({ name: 'd', creationTimestamp: '2023-11-14T22:13:20Z' });
    expect(obj.spec).toEqual({ replicas: 3, strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: '25%' } } });
  });

  it('refuses a body without the k8s magic with 400', () => {
    // Act
    const status = statusOf(() => decodeProtobuf(Buffer.from('{"kind":"Pod"}')));
    // Assess
    expect(status.code).toBe(400);
    expect(status.message).toContain('expected prefix [107 56 115 0]');
  });

  it('refuses a truncated body with 400, never a crash', () => {
    // Prepare
    const good = envelope('v1', 'Namespace', msg(1, str(1, 'foo')));
    // Act
    const status = statusOf(() => decodeProtobuf(good.subarray(0, good.length - 3)));
    // Assess
    expect(status).toMatchObject({ code: 400, reason: 'BadRequest' });
  });

  it('decodes the ResourceQuota kubectl create quota sends (hard as quantities, scopes)', () => {
    // Prepare: ResourceQuota{metadata{name}, spec{hard{pods: 2, limits.cpu: 500m}, scopes[NotTerminating]}}
    const quantity = (s: string) => msg(2, str(1, s));
    const spec = msg(2, msg(1, str(1, 'pods'), quantity('2')), msg(1, str(1, 'limits.cpu'), quantity('500m')), str(2, 'NotTerminating'));
    // Act
    const obj = decodeProtobuf(envelope('v1', 'ResourceQuota', Buffer.concat([msg(1, str(1, 'rq')), spec])));
    // Assess
    expect(obj).toMatchObject({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'rq' }, spec: { hard: { pods: '2', 'limits.cpu': '500m' }, scopes: ['NotTerminating'] } });
  });

  it('refuses a kind it has no field table for with 415, naming it', () => {
    // Act
    const status = statusOf(() => decodeProtobuf(envelope('v1', 'LimitRange', msg(1, str(1, 'lr')))));
    // Assess
    expect(status.code).toBe(415);
    expect(status.message).toContain('LimitRange in version "v1"');
  });

  it('refuses a field it does not know that carries data, rather than dropping it', () => {
    // Prepare: PodSpec field 1 (volumes) with a volume in it
    const body = envelope('v1', 'Pod', Buffer.concat([msg(1, str(1, 'p')), msg(2, msg(1, str(1, 'data')))]));
    // Act
    const status = statusOf(() => decodeProtobuf(body));
    // Assess
    expect(status.code).toBe(415);
    expect(status.message).toContain('field 1 of PodSpec');
  });

  it('is what decodeBody does for a protobuf object body, but never for a patch', () => {
    // Prepare
    const body = envelope('v1', 'Namespace', msg(1, str(1, 'foo')));
    const req = { method: 'POST', path: '/api/v1/namespaces', query: new URLSearchParams(), headers: { 'content-type': 'application/vnd.kubernetes.protobuf' }, body };
    // Act
    const decoded = decodeBody(req);
    const patch = statusOf(() => decodeBody(req, ['application/merge-patch+json']));
    // Assess
    expect(decoded).toEqual({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'foo' } });
    expect(patch.code).toBe(415);
  });

  it('decodes the PodDisruptionBudget kubectl create pdb sends (minAvailable as IntOrString, zero status dropped)', () => {
    // Prepare: kubectl create pdb web --selector=app=web --min-available=1
    const intOrString = (n: number) => Buffer.concat([int(1, 0), int(2, n), str(3, '')]);
    const spec = Buffer.concat([msg(1, intOrString(1)), msg(2, entry(1, 'app', 'web'))]);
    const status = Buffer.concat([int(1, 0), int(3, 0), int(4, 0), int(5, 0), int(6, 0)]);
    const raw = Buffer.concat([msg(1, str(1, 'web'), str(3, 'default')), msg(2, spec), msg(3, status)]);
    // Act
    const obj = decodeProtobuf(envelope('policy/v1', 'PodDisruptionBudget', raw));
    // Assess
    expect(obj).toEqual({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'web', namespace: 'default' }, spec: { minAvailable: 1, selector: { matchLabels: { app: 'web' } } } });
  });

  it.each([
    [1000, false, '', { value: 1000 }],
    [0, true, 'for system pods', { value: 0, globalDefault: true, description: 'for system pods' }],
  ])('decodes a PriorityClass with value %d (zero kept: the field is not omitempty)', (value, globalDefault, description, expected) => {
    // Prepare: kubectl create priorityclass high --value=1000
    const raw = Buffer.concat([msg(1, str(1, 'high')), int(2, value), int(3, globalDefault ? 1 : 0), str(4, description)]);
    // Act
    const obj = decodeProtobuf(envelope('scheduling.k8s.io/v1', 'PriorityClass', raw));
    // Assess
    expect(obj).toEqual({ apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'high' }, ...expected });
  });

  it('decodes the Ingress kubectl create ingress sends, with the inline IngressRuleValue merged into the rule', () => {
    // Prepare: kubectl create ingress site --class=stratus --rule="a.example.com/api*=api:http,tls=a-cert" --default-backend=web:80
    const backend = (svc: string, port: Buffer) => msg(4, str(1, svc), msg(2, port));
    const path = Buffer.concat([str(1, '/api'), msg(2, backend('api', str(1, 'http'))), str(3, 'Prefix')]);
    const rule = Buffer.concat([str(1, 'a.example.com'), msg(2, msg(1, msg(1, path)))]);
    const spec = Buffer.concat([msg(1, backend('web', int(2, 80))), msg(2, str(1, 'a.example.com'), str(2, 'a-cert')), msg(3, rule), str(4, 'stratus')]);
    const raw = Buffer.concat([msg(1, str(1, 'site'), str(3, 'default')), msg(2, spec), msg(3, msg(1))]);
    // Act
    const obj = decodeProtobuf(envelope('networking.k8s.io/v1', 'Ingress', raw));
    // Assess
    expect(obj).toEqual({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'site', namespace: 'default' },
      spec: {
        defaultBackend: { service: { name: 'web', port: { number: 80 } } },
        tls: [{ hosts: ['a.example.com'], secretName: 'a-cert' }],
        rules: [{ host: 'a.example.com', http: { paths: [{ path: '/api', pathType: 'Prefix', backend: { service: { name: 'api', port: { name: 'http' } } } }] } }],
        ingressClassName: 'stratus',
      },
    });
  });

  it('refuses a PodDisruptionBudget field outside its table with 415 rather than dropping it', () => {
    // Prepare: status.disruptedPods (2), not in the table
    const raw = Buffer.concat([msg(1, str(1, 'web')), msg(3, entry(2, 'p', 'x'))]);
    // Act
    const status = statusOf(() => decodeProtobuf(envelope('policy/v1', 'PodDisruptionBudget', raw)));
    // Assess
    expect(status.code).toBe(415);
  });
});
