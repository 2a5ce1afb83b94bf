/**
 * Store keys (shared/store/keys.ts): the API group is in every key, no two (tenant, group,
 * resource) share a partition, and no tenant name can spell another tenant's prefix.
 */
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { parseRecord } from '../../shared/store/changes';
import { resourceTypes } from '../../shared/resources';
import { groupResource, parsePartitionKey, partitionKey } from '../../shared/store/keys';

const core = { group: '', resource: 'widgets' };
const grouped = { group: 'example.com', resource: 'widgets' };

describe('store keys', () => {
  it.each([
    ['core resource', 'acme', { group: '', resource: 'pods' }, 'acme#pods'],
    ['grouped resource', 'acme', { group: 'apps', resource: 'deployments' }, 'acme#deployments.apps'],
    ['dotted group', 'a-1', { group: 'storage.k8s.io', resource: 'storageclasses' }, 'a-1#storageclasses.storage.k8s.io'],
  ])('%s: %s', (_name, tenant, rt, pk) => {
    expect(partitionKey(tenant, rt)).toBe(pk);
    expect(parsePartitionKey(pk)).toEqual({ tenant, ...rt });
  });

  it('a resource of another group never shares a core resource\'s partition', () => {
    expect(partitionKey('acme', core)).not.toBe(partitionKey('acme', grouped));
    const keys = resourceTypes.map((rt) => partitionKey('acme', rt));
    // One partition per GroupResource: the versions of one (autoscaling/v1 and v2 HPAs) share it.
    expect(new Set(keys).size).toBe(new Set(resourceTypes.map((rt) => `${rt.group}/${rt.resource}`)).size);
    for (const rt of resourceTypes) expect(parsePartitionKey(partitionKey('acme', rt))).toEqual({ tenant: 'acme', group: rt.group, resource: rt.resource });
  });

  it.each([
    ['a tenant spelling another tenant and a resource', 'acme#pods'],
    ['a tenant with a dot', 'acme.pods'],
    ['an upper-case tenant', 'Acme'],
    ['an empty tenant', ''],
    ['a tenant longer than a DNS label', 'a'.repeat(64)],
    ['a tenant ending in a hyphen', 'acme-'],
  ])('refuses %s (%j)', (_name, tenant) => {
    expect(() => partitionKey(tenant, core)).toThrow(/invalid tenant/);
  });

  it.each([
    ['a resource with a dot', { group: '', resource: 'pods.apps' }],
    ['a resource with a hash', { group: '', resource: 'pods#x' }],
    ['an upper-case resource', { group: '', resource: 'Pods' }],
    ['a group with a hash', { group: 'a#b', resource: 'pods' }],
  ])('refuses %s', (_name, rt) => {
    expect(() => groupResource(rt)).toThrow(/invalid/);
  });

  it.each([
    ['token items', `token#${'ab'.repeat(32)}`],
    ['node-tenant markers', '~node-tenants'],
    ['controller coordination', 'acme#~controllers'],
    ['an upper-case group', 'acme#pods.Apps'],
  ])('other partitions are not objects: %s', (_name, pk) => {
    expect(parsePartitionKey(pk)).toBeUndefined();
    const record: DynamoDBRecord = { eventName: 'INSERT', dynamodb: { Keys: marshall({ pk, sk: 'x' }) as never, SequenceNumber: '1' } };
    expect(parseRecord(record)).toBeUndefined();
  });

  it('a stream record says the group of the object it carries', () => {
    const record: DynamoDBRecord = { eventName: 'REMOVE', dynamodb: { Keys: marshall({ pk: 'acme#widgets.example.com', sk: 'ns/a' }) as never, SequenceNumber: '7' } };
    expect(parseRecord(record)).toMatchObject({ tenant: 'acme', group: 'example.com', resource: 'widgets', eventName: 'REMOVE', sequenceNumber: '7' });
  });
});
