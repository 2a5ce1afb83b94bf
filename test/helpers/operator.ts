/**
 * Clusters made through the operator API of the suite's stack (`/stratus/v1/clusters`), for tests
 * that need a cluster with settings of its own (rate limits, caps). test/helpers/clusters.ts makes
 * them through the store instead, with a join token for agents.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, inject } from 'vitest';
import { Api, uniqueName } from './api';

/** The operator's client (its token from the stack's state directory). */
export function operatorApi(): Api {
  const stack = inject('stack');
  return new Api(stack.apiUrl, readFileSync(join(stack.stateDir, 'operator-token'), 'utf8').trim(), stack.caCert);
}

/** A cluster name unique to this run, from `prefix`: lower case, at most 40 characters. */
export const clusterName = (prefix: string): string => uniqueName(prefix).replace(/[^a-z0-9-]/g, '').slice(0, 40);

/** Creates a cluster with `spec` through the operator API (asserting the 201): its name, admin token and a client of it. */
export async function createCluster(prefix: string, spec: Record<string, unknown>): Promise<{ name: string; api: Api; token: string }> {
  const stack = inject('stack');
  const name = clusterName(prefix);
  const res = await operatorApi().send('POST', '/stratus/v1/clusters', { metadata: { name }, spec });
  expect(res.status, res.text).toBe(201);
  const token = res.body.credentials.token as string;
  return { name, token, api: new Api(`${stack.apiUrl}/clusters/${name}`, token, stack.caCert) };
}
