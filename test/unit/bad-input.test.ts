import { describe, expect, it } from 'vitest';
import { decodeObject, validateObject } from '../../shared/registry/decode';
import {
  annotationsProblems,
  checkExpandedSize,
  checkJsonDepth,
  checkPathNames,
  decodeSegment,
  kindMismatch,
  MAX_JSON_DEPTH,
  parseDeleteOptions,
  validContinueToken,
} from '../../shared/limits';
import { decodeBody, decodeObjectBody, forClient, json, type ApiRequest } from '../../functions/api/request';
import { notFound, StatusError } from '../../shared/errors';
import { apiVersionOf, isStored, resourceByName, resourceTypes, type KubeObject } from '../../shared/resources';
import { KNOWN_FIELDS } from '../../shared/schemas/known-fields';
import { parseFieldSelector, parseLabelSelector } from '../../shared/selectors';

const pods = resourceByName('pods');
const namespaces = resourceByName('namespaces');

function statusOf(f: () => unknown): StatusError {
  try {
    f();
  } catch (e) {
    if (e instanceof StatusError) return e;
    throw e;
  }
  throw new Error('expected a StatusError');
}

const request = (body: string | Buffer, type = 'application/json', query = ''): ApiRequest => ({
  method: 'POST',
  path: '/api/v1/namespaces/default/pods',
  query: new URLSearchParams(query),
  headers: { 'content-type': type },
  body: Buffer.isBuffer(body) ? body : Buffer.from(body),
});

describe('JSON responses', () => {
  it('end with a newline, and pretty ones are indented without it', () => {
    // Prepare + Act
    const res = json(200, { a: 1 });
    const pretty = forClient(res, { query: new URLSearchParams('pretty=true'), headers: {} });
    const notPretty = forClient(res, { query: new URLSearchParams('pretty=yes'), headers: { 'user-agent': 'curl/8' } });
    // Assess
    expect(res.body).toBe('{"a":1}\n');
    expect(pretty.body).toBe('{\n  "a": 1\n}');
    expect(notPretty.body).toBe('{"a":1}\n');
  });

  it('leave an empty group out of Status.details (core kinds)', () => {
    // Prepare + Act
    const core = notFound('pods', 'x').toStatus();
    const apps = notFound('deployments', 'x', 'apps').toStatus();
    // Assess
    expect(JSON.stringify(core)).toBe(
      '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \\"x\\" not found","reason":"NotFound","details":{"name":"x","kind":"pods"},"code":404}',
    );
    expect(apps.details).toEqual({ name: 'x', group: 'apps', kind: 'deployments' });
  });
});

describe('bodies', () => {
  const deep = (n: number, open = '[', close = ']') => open.repeat(n) + close.repeat(n);

  it(`refuses JSON nested deeper than ${MAX_JSON_DEPTH} levels with 400, without recursing`, () => {
    // Prepare + Act
    const ok = decodeBody(request(deep(MAX_JSON_DEPTH)));
    const tooDeep = statusOf(() => decodeBody(request(deep(100_000))));
    const objects = statusOf(() => decodeBody(request(`{"a":${'{"a":'.repeat(2000)}1${'}'.repeat(2001)}`)));
    // Assess
    expect(Array.isArray(ok)).toBe(true);
    expect(tooDeep.code).toBe(400);
    expect(tooDeep.message).toContain("invalid character '[' exceeded max depth");
    expect(objects.code).toBe(400);
    // Brackets inside strings do not count.
    expect(() => checkJsonDepth(`["${'['.repeat(5000)}"]`)).not.toThrow();
  });

  it('refuses a billion-laughs YAML document at once, and takes YAML with a few aliases', () => {
    // Prepare
    const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 10; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
    const bomb = lines.join('\n');
    const friendly = 'x: &x {name: a}\ny: [*x, *x]\n';
    // Act
    const refused = statusOf(() => decodeBody(request(bomb, 'application/yaml')));
    const accepted = decodeBody(request(friendly, 'application/yaml'));
    // Assess
    expect(refused.code).toBe(400);
    expect(refused.message).toContain('yaml: document contains excessive aliasing');
    expect(accepted).toEqual({ x: { name: 'a' }, y: [{ name: 'a' }, { name: 'a' }] });
    // A long string aliased many times counts by its length each time.
    const longString = `s: &s "${'x'.repeat(100_000)}"\nt: [${Array(100).fill('*s').join(',')}]`;
    expect(() => checkExpandedSize(decodeBody(request(longString.replace(/\nt:.*/, ''), 'application/yaml')), 1_000_000)).not.toThrow();
    expect(statusOf(() => decodeBody(request(longString, 'application/yaml'))).message).toContain('excessive aliasing');
  });

  it('refuses a body over 3 MiB with 413 in Kubernetes words', () => {
    // Prepare + Act
    const s = statusOf(() => decodeBody(request(Buffer.alloc(3 * 1024 * 1024 + 1, 0x20))));
    // Assess
    expect(s.code).toBe(413);
    expect(s.message).toBe('Request entity too large: limit is 3145728');
  });

  it.each([
    ['apiVersion: v1\nkind: Pod\n', 'the object provided is unrecognized (must be of type Namespace): couldn\'t get version/kind; json parse error: invalid character \'a\' looking for beginning of value (61706956657273696f6e3a2076310a6b696e643a20506f640a)'],
    ['', 'the object provided is unrecognized (must be of type Namespace): couldn\'t get version/kind; json parse error: unexpected end of JSON input (<empty>)'],
    ['[1]', 'the object provided is unrecognized (must be of type Namespace): couldn\'t get version/kind; json parse error: json: cannot unmarshal array into Go value of type struct'],
    ['{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}', 'Pod in version "v1" cannot be handled as a Namespace: converting (v1.Pod) to (core.Namespace): unknown conversion'],
    ['{"apiVersion":"v1","kind":"Widget"}', 'Widget in version "v1" cannot be handled as a Namespace: no kind "Widget" is registered for version "v1"'],
    ['{"apiVersion":"apps/v1","kind":"Namespace"}', 'Namespace in version "v1" cannot be handled as a Namespace: no kind "Namespace" is registered for version "apps/v1"'],
  ])('a namespace body %j gets Kubernetes\' decode error', (body, message) => {
    // Prepare + Act
    const s = statusOf(() => decodeObjectBody(request(body), namespaces));
    // Assess
    expect(s.code).toBe(400);
    expect(s.message).toContain(message);
  });

  it('takes a body of the right kind, or without kind and apiVersion', () => {
    // Prepare + Act + Assess
    expect(kindMismatch(namespaces, { kind: 'Namespace', apiVersion: 'v1' })).toBeUndefined();
    expect(kindMismatch(namespaces, {})).toBeUndefined();
  });
});

describe('paths and names', () => {
  it.each([
    ['%ZZ', 400],
    ['ab%', 400],
    ['%E0%A4%A', 400],
  ])('refuses the malformed escape %s with 400', (segment, code) => {
    // Prepare + Act + Assess
    expect(statusOf(() => decodeSegment(segment)).code).toBe(code);
    expect(decodeSegment('a%20b')).toBe('a b');
  });

  const long = 'a'.repeat(254);
  const kinds = { pods, namespaces };
  it.each([
    ['pods', 'default', long, 'get', 404, `pods "${long}" not found`],
    ['pods', 'default', long, 'update', 404, `pods "${long}" not found`],
    ['pods', 'default', long, 'delete', 404, `pods "${long}" not found`],
    ['pods', 'n'.repeat(64), 'p', 'get', 404, 'pods "p" not found'],
    ['pods', 'n'.repeat(64), undefined, 'create', 404, `namespaces "${'n'.repeat(64)}" not found`],
    ['pods', 'default', 'a%b', 'get', 400, 'Name parameter invalid: "a%b": may not contain \'%\''],
    ['pods', 'default', '..', 'delete', 400, 'Name parameter invalid: "..": may not be \'..\''],
    ['namespaces', undefined, 'x/y', 'get', 400, 'Name parameter invalid: "x/y": may not contain \'/\''],
  ] as const)('%s in %s named %s: %s → %i', (kind, namespace, name, verb, code, message) => {
    // Prepare + Act
    const s = statusOf(() => checkPathNames({ rt: kinds[kind], namespace, name }, verb));
    // Assess
    expect(s.code).toBe(code);
    expect(s.message).toBe(message);
  });

  it('serves a list in a namespace that cannot exist from one no object is in, and passes valid names', () => {
    // Prepare + Act + Assess
    expect(checkPathNames({ rt: pods, namespace: 'n'.repeat(5000) }, 'list').namespace).toBe('-');
    expect(checkPathNames({ rt: pods, namespace: 'default', name: 'a'.repeat(253) }, 'get').name).toHaveLength(253);
  });
});

describe('metadata', () => {
  const pod = (annotations: Record<string, string>): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default', annotations },
    spec: { containers: [{ name: 'c', image: 'busybox' }] },
  });

  it('refuses annotations over 256 KiB in total with 422 as Kubernetes words it', () => {
    // Prepare
    const big = pod({ a: 'x'.repeat(128 * 1024), b: 'y'.repeat(128 * 1024) });
    // Act
    const s = statusOf(() => validateObject(pods, big));
    // Assess
    expect(s.code).toBe(422);
    expect(s.message).toBe('Pod "p" is invalid: metadata.annotations: Too long: must have at most 262144 bytes');
    expect(annotationsProblems(pod({ a: 'x'.repeat(256 * 1024 - 1) }))).toEqual([]);
  });
});

describe('DeleteOptions and continue tokens', () => {
  it('refuses a DELETE body of another kind, or with fields of the wrong type, and ignores unknown fields', () => {
    // Prepare + Act
    const pod = statusOf(() => parseDeleteOptions({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } }));
    const wrongType = statusOf(() => parseDeleteOptions({ gracePeriodSeconds: 'soon' }));
    const notObject = statusOf(() => parseDeleteOptions([1]));
    // Assess
    expect(pod.code).toBe(400);
    expect(pod.message).toContain('no kind "Pod" is registered for version "v1"');
    expect(wrongType.code).toBe(400);
    expect(notObject.code).toBe(400);
    expect(parseDeleteOptions({ kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0, bogus: 1 })).toEqual({ gracePeriodSeconds: 0 });
  });

  it.each([
    [{ rv: 5, after: 'default/p' }, true],
    [{ rv: -1, after: 'default/p' }, false],
    [{ rv: 1.5, after: 'default/p' }, false],
    [{ rv: '5', after: 'default/p' }, false],
    [{ rv: 5, after: 'x'.repeat(2000) }, false],
    [{ rv: 5, after: '' }, false],
  ])('continue token %j is valid: %s', (token, valid) => {
    // Prepare + Act + Assess
    expect(validContinueToken(token)).toBe(valid);
  });
});

describe('selectors, as labels.Parse and fields.ParseSelector', () => {
  it.each([
    ['a==b==c', "found '==', expected: ',' or 'end of string'"],
    ['a=b=c', "found '=', expected: ',' or 'end of string'"],
    ['a in (b', "unable to parse requirement: found '', expected: ',' or ')'"],
    ['a in b', "unable to parse requirement: found 'b' expected: '('"],
    ['a,', "found '', expected: identifier after ','"],
    [',a', "found ',', expected: !, identifier, or 'end of string'"],
    ['a b', "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"],
    ['a=(b)', "unable to parse requirement: found '(', expected: identifier"],
    ['a x b', 'unable to parse requirement: found \'x\', expected: in, notin, =, ==, !=, gt, lt'],
    ['-a=b', 'unable to parse requirement: <nil>: Invalid value: "-a": name part must consist of alphanumeric characters'],
    ['a=-b', 'unable to parse requirement: values[0]: Invalid value: "-b": a valid label must be an empty string'],
    ['a>b', "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer"],
    ['!a=b', "found '=', expected: ',' or 'end of string'"],
  ])('label selector %j → 400 %s', (selector, message) => {
    // Prepare + Act
    const s = statusOf(() => parseLabelSelector(selector));
    // Assess
    expect(s.code).toBe(400);
    expect(s.message).toContain(message);
  });

  it('parses what Kubernetes takes', () => {
    // Prepare + Act + Assess
    expect(parseLabelSelector('x in (foo,,baz),y,z notin ()')).toEqual([
      { op: 'in', key: 'x', values: ['', 'baz', 'foo'] },
      { op: 'exists', key: 'y' },
      { op: 'notin', key: 'z', values: [''] },
    ]);
    expect(parseLabelSelector('a in (in),b notin (notin),c>3,d<1,!e,f=,g==h')).toEqual([
      { op: 'in', key: 'a', values: ['in'] },
      { op: 'notin', key: 'b', values: ['notin'] },
      { op: 'gt', key: 'c', value: '3' },
      { op: 'lt', key: 'd', value: '1' },
      { op: '!', key: 'e' },
      { op: '=', key: 'f', value: '' },
      { op: '=', key: 'g', value: 'h' },
    ]);
  });

  it.each([
    ['a==b==c', 'invalid field selector: unescaped character in value: ='],
    ['metadata.name', "invalid selector: 'metadata.name'; can't understand 'metadata.name'"],
    ['metadata.name=a\\b', 'invalid field selector: invalid escape sequence: \\b'],
    ['spec.nope=1', 'field label not supported: spec.nope'],
  ])('field selector %j → 400 %s', (selector, message) => {
    // Prepare + Act
    const s = statusOf(() => parseFieldSelector(resourceByName('pods')!, selector));
    // Assess
    expect(s.code).toBe(400);
    expect(s.message).toBe(message);
  });

  it('unescapes field selector values', () => {
    // Prepare + Act + Assess
    expect(parseFieldSelector(resourceByName('pods')!, 'metadata.name=a\\,b\\=c,spec.nodeName!=')).toEqual([
      { field: 'metadata.name', op: '=', value: 'a,b=c' },
      { field: 'spec.nodeName', op: '!=', value: '' },
    ]);
  });
});

describe('fieldValidation=Strict at any depth', () => {
  const pod = (container: Record<string, unknown>, spec: Record<string, unknown> = {}) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p' },
    spec: { containers: [{ name: 'c', image: 'busybox', ...container }], ...spec },
  });

  it.each([
    [pod({ bogusField: 1 }), 'spec.containers[0].bogusField'],
    [pod({ securityContext: { runAsUser: 1, bogus: 1 } }), 'spec.containers[0].securityContext.bogus'],
    [pod({ livenessProbe: { httpGet: { path: '/', port: 80, bogus: 1 } } }), 'spec.containers[0].livenessProbe.httpGet.bogus'],
    [pod({ env: [{ name: 'a', valueFrom: { fieldRef: { fieldPath: 'x', bogus: 1 } } }] }), 'spec.containers[0].env[0].valueFrom.fieldRef.bogus'],
    [pod({}, { affinity: { nodeAffinity: { bogus: 1 } } }), 'spec.affinity.nodeAffinity.bogus'],
    [pod({}, { volumes: [{ name: 'v', emptyDir: { bogus: 1 } }] }), 'spec.volumes[0].emptyDir.bogus'],
    [pod({}, { tolerations: [{ key: 'k', operator: 'Exists', bogus: 1 }] }), 'spec.tolerations[0].bogus'],
  ])('%#: refuses unknown field %s with Kubernetes message', (body, field) => {
    // Prepare + Act
    const s = statusOf(() => decodeObject(pods, body, 'Strict'));
    // Assess
    expect(s.code).toBe(400);
    expect(s.message).toBe(`Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "${field}"`);
  });

  it('drops them under Warn, with a warning each, and takes a full Deployment', () => {
    // Prepare
    const deployments = resourceByName('deployments');
    const full = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd' },
      spec: {
        selector: { matchLabels: { a: 'b' } },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
        template: {
          metadata: { labels: { a: 'b' } },
          spec: {
            containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 80 }], resources: { requests: { cpu: '1' } }, securityContext: { capabilities: { add: ['NET_ADMIN'] } } }],
            affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { a: 'b' } }, topologyKey: 'k' }] } },
            volumes: [{ name: 'v', configMap: { name: 'c', items: [{ key: 'a', path: 'b' }] } }],
          },
        },
      },
    };
    // Act
    const warned = decodeObject(pods, pod({ securityContext: { bogus: 1 } }), 'Warn');
    const deployment = decodeObject(deployments, full, 'Strict');
    // Assess
    expect(warned.warnings).toEqual(['unknown field "spec.containers[0].securityContext.bogus"']);
    expect((warned.obj.spec as { containers: { securityContext: object }[] }).containers[0]!.securityContext).toEqual({});
    expect(deployment.warnings).toEqual([]);
  });
});

describe('the known-fields table', () => {
  it('has every served kind (run `npx tsx scripts/gen-known-fields.ts` after adding one)', () => {
    // Prepare + Act
    const missing = resourceTypes.filter((rt) => isStored(rt) && !KNOWN_FIELDS.kinds[`${apiVersionOf(rt)}/${rt.kind}`]).map((rt) => rt.kind);
    // Assess
    expect(missing).toEqual([]);
  });
});
