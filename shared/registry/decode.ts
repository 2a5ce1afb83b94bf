import { z } from 'zod';
import { badRequest, invalid, requestEntityTooLarge, type StatusCause } from '../errors';
import { apiVersionOf, nameProblem, type KubeObject, type ResourceType } from '../resources';

/*
 * Decoding and validation of objects against their kind's strategy: the zod schema (with
 * Kubernetes' fieldValidation modes), name and label rules, the kind's own validation, size.
 */
import { annotationsProblems, checkObjectDepth, dropUnknownFields } from '../limits';

/** Largest object we store: DynamoDB items end at 400 KB, and the log entry holds it again. */
export const MAX_OBJECT_BYTES = 350 * 1024;

export function checkSize(obj: KubeObject): void {
  checkObjectDepth(obj); // a patch can deepen an object past what JSON.stringify can write
  if (Buffer.byteLength(JSON.stringify(obj)) > MAX_OBJECT_BYTES) throw requestEntityTooLarge(MAX_OBJECT_BYTES);
}

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export function fieldValidationOf(query: URLSearchParams): FieldValidation {
  const v = query.get('fieldValidation');
  if (v === null || v === '') return 'Strict';
  if (v === 'Strict' || v === 'Warn' || v === 'Ignore') return v;
  throw badRequest(`fieldValidation must be one of "Strict", "Warn", "Ignore" (got "${v}")`);
}

function fieldPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}

function removeAt(value: unknown, path: readonly PropertyKey[], key: string): void {
  let cur: unknown = value;
  for (const p of path) cur = (cur as Record<PropertyKey, unknown> | undefined)?.[p as string];
  if (cur && typeof cur === 'object') delete (cur as Record<string, unknown>)[key];
}

/**
 * Decodes an object of `rt` with its zod schema: shape errors and (under Strict) unknown
 * fields are 400 BadRequest in Kubernetes' words; Warn/Ignore drop unknown fields (Warn
 * returns them as warnings for the Warning header).
 */
export function decodeObject(rt: ResourceType, raw: unknown, mode: FieldValidation): { obj: KubeObject; warnings: string[] } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw badRequest(`${rt.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}: the body must be a JSON object`);
  const input = structuredClone(raw) as Record<string, unknown>;
  const cannot = `${rt.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}`;
  if (input.kind !== undefined && input.kind !== rt.kind)
    throw badRequest(`${cannot}: the kind "${String(input.kind)}" does not match the resource (${rt.kind})`);
  if (input.apiVersion !== undefined && input.apiVersion !== apiVersionOf(rt))
    throw badRequest(`${cannot}: the apiVersion "${String(input.apiVersion)}" does not match the resource (${apiVersionOf(rt)})`);
  const warnings: string[] = [];
  const deep = dropUnknownFields(rt, input, mode); // at any depth, by Kubernetes' schema
  if (mode === 'Strict' && deep.length)
    throw badRequest(
      `${cannot}: strict decoding error: ${deep.map((f) => `unknown field "${f}"`).join(', ')}`,
      deep.map((f) => ({ reason: 'FieldValueInvalid', message: `unknown field "${f}"`, field: f })),
    );
  if (mode === 'Warn') warnings.push(...deep.map((f) => `unknown field "${f}"`));
  for (let round = 0; round < 50; round++) {
    const parsed = (rt.schema as z.ZodType<KubeObject>).safeParse(input);
    if (parsed.success) {
      const obj = { ...parsed.data, apiVersion: apiVersionOf(rt), kind: rt.kind };
      return { obj: rt.conversion ? rt.conversion.toStorage(obj) : obj, warnings };
    }
    const unknown = parsed.error.issues.filter((i) => i.code === 'unrecognized_keys');
    const other = parsed.error.issues.filter((i) => i.code !== 'unrecognized_keys');
    if (other.length > 0) {
      const i = other[0]!;
      throw badRequest(`${cannot}: ${fieldPath(i.path) || '(root)'}: ${i.message}`, other.map((o) => ({ reason: 'FieldValueInvalid', message: o.message, field: fieldPath(o.path) })));
    }
    const fields = unknown.flatMap((i) => (i.code === 'unrecognized_keys' ? i.keys.map((k) => fieldPath([...i.path, k])) : []));
    if (mode === 'Strict') {
      throw badRequest(
        `${cannot}: strict decoding error: ${fields.map((f) => `unknown field "${f}"`).join(', ')}`,
        fields.map((f) => ({ reason: 'FieldValueInvalid', message: `unknown field "${f}"`, field: f })),
      );
    }
    if (mode === 'Warn') warnings.push(...fields.map((f) => `unknown field "${f}"`));
    for (const i of unknown) if (i.code === 'unrecognized_keys') for (const k of i.keys) removeAt(input, i.path, k);
  }
  throw badRequest(`${cannot}: too many unknown fields`);
}

/** Kubernetes' generateName suffix: 5 characters from a consonant-heavy alphabet. */
export function generateNameSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  let s = '';
  for (let i = 0; i < 5; i++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
  return s;
}

/** Name checks and the kind's own validation; 422 Invalid with every cause. */
export function validateObject(rt: ResourceType, obj: KubeObject, old?: KubeObject): void {
  const causes: StatusCause[] = [];
  const name = obj.metadata.name ?? '';
  if (!name) causes.push({ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' });
  else {
    const problem = nameProblem(rt, name);
    if (problem) causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${name}": ${problem}`, field: 'metadata.name' });
  }
  for (const [k, v] of Object.entries(obj.metadata.labels ?? {})) {
    if (v.length > 63 || !/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(v))
      causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${v}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`, field: `metadata.labels` });
    if (!/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(k))
      causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${k}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`, field: 'metadata.labels' });
  }
  causes.push(...annotationsProblems(obj));
  causes.push(...rt.validate(obj, old));
  if (causes.length > 0) throw invalid(rt.kind, name, causes, rt.group);
}
