import { describe, expect, it } from 'vitest';
import { decodeObject, validateObject } from '../../shared/registry/decode';
import { StatusError } from '../../shared/errors';
import { resourceByName } from '../../shared/resources';

const pods = resourceByName('pods');
const namespaces = resourceByName('namespaces');
const validPod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' }, spec: { containers: [{ name: 'c', image: 'busybox:1' }] } };

function statusOf(fn: () => unknown): StatusError {
  try {
    fn();
  } catch (e) {
    if (e instanceof StatusError) return e;
    throw e;
  }
  throw new Error('expected a StatusError');
}

describe('decoding objects', () => {
  it('accepts a valid pod and sets apiVersion and kind', () => {
    const { obj } = decodeObject(pods, validPod, 'Strict');
    expect(obj.kind).toBe('Pod');
    expect(obj.metadata.name).toBe('web');
  });

  it('rejects unknown fields under Strict in Kubernetes words', () => {
    // Act
    const err = statusOf(() => decodeObject(pods, { ...validPod, spec: { ...validPod.spec, bogus: 1 } }, 'Strict'));
    // Assess
    expect(err.code).toBe(400);
    expect(err.message).toContain('strict decoding error: unknown field "spec.bogus"');
  });

  it('drops unknown fields under Ignore and reports them under Warn', () => {
    const body = { ...validPod, spec: { ...validPod.spec, bogus: 1 } };
    expect(decodeObject(pods, body, 'Ignore').obj.spec).not.toHaveProperty('bogus');
    expect(decodeObject(pods, body, 'Warn').warnings).toEqual(['unknown field "spec.bogus"']);
  });

  it('rejects wrong types and a wrong kind with 400', () => {
    expect(statusOf(() => decodeObject(pods, { ...validPod, spec: { containers: 'x' } }, 'Strict')).code).toBe(400);
    expect(statusOf(() => decodeObject(pods, { ...validPod, kind: 'Node' }, 'Strict')).code).toBe(400);
    expect(statusOf(() => decodeObject(pods, [1, 2], 'Strict')).code).toBe(400);
  });
});

describe('validating objects', () => {
  it('names the field of each problem with 422 Invalid', () => {
    // Prepare
    const obj = pods.applyDefaults(decodeObject(pods, { metadata: { name: 'Bad_Name' }, spec: { containers: [{ name: 'c' }] } }, 'Strict').obj);
    // Act
    const err = statusOf(() => validateObject(pods, obj));
    // Assess
    expect(err.code).toBe(422);
    expect(err.reason).toBe('Invalid');
    const fields = err.details?.causes?.map((c) => c.field);
    expect(fields).toContain('metadata.name');
    expect(fields).toContain('spec.containers[0].image');
  });

  it('requires containers', () => {
    const obj = decodeObject(pods, { metadata: { name: 'p' }, spec: {} }, 'Strict').obj;
    expect(statusOf(() => validateObject(pods, obj)).details?.causes?.[0]?.field).toBe('spec.containers');
  });

  it('limits namespace names to RFC 1123 labels', () => {
    const obj = decodeObject(namespaces, { metadata: { name: 'a.b' } }, 'Strict').obj;
    expect(statusOf(() => validateObject(namespaces, obj)).code).toBe(422);
  });

  it('forbids changing a pod spec other than images', () => {
    const old = pods.applyDefaults(decodeObject(pods, validPod, 'Strict').obj);
    const changed = { ...old, spec: { ...(old.spec as object), restartPolicy: 'Never' } };
    expect(statusOf(() => validateObject(pods, changed, old)).code).toBe(422);
    const image = { ...old, spec: { ...(old.spec as { containers: object[] }), containers: [{ ...(old.spec as { containers: object[] }).containers[0], image: 'busybox:2' }] } };
    expect(() => validateObject(pods, image, old)).not.toThrow();
  });
});
