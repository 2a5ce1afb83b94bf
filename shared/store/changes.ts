import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { canonicalJson } from '../canonical';
import type { KubeObject } from '../resources';
import { EnvelopeError } from '../secrets/envelope';
import { withDataKeys } from '../secrets/store-codec';
import { parseObject } from './items';
import { parsePartitionKey } from './keys';

/** One object change read off the objects table's stream. */
export interface ObjectChange {
  readonly tenant: string;
  /** The object's API group ('' for core) and resource, from its key (shared/store/keys.ts). */
  readonly group: string;
  readonly resource: string;
  readonly eventName: 'INSERT' | 'MODIFY' | 'REMOVE';
  readonly oldObject?: KubeObject;
  readonly newObject?: KubeObject;
  readonly sequenceNumber: string;
}

function objectOf(image: Record<string, unknown> | undefined): KubeObject | undefined {
  if (!image) return undefined;
  const item = unmarshall(image as Record<string, AttributeValue>);
  // `o` is compressed JSON (a base64 string in Lambda's stream events; shared/store/codec.ts), a
  // sealed Secret's envelope (shared/secrets/store-codec.ts), checked against the item's key.
  if (item.o === undefined) return undefined;
  return parseObject(item);
}

/** Parses a stream record; undefined for items that are not objects (tokens, ...). */
export function parseRecord(record: DynamoDBRecord): ObjectChange | undefined {
  const keys = record.dynamodb?.Keys as Record<string, unknown> | undefined;
  const pk = keys ? (unmarshall(keys as Record<string, AttributeValue>).pk as string | undefined) : undefined;
  const key = pk === undefined || pk.startsWith('token#') ? undefined : parsePartitionKey(pk);
  if (!key) return undefined;
  return {
    ...key,
    eventName: record.eventName as ObjectChange['eventName'],
    oldObject: objectOf(record.dynamodb?.OldImage as Record<string, unknown> | undefined),
    newObject: objectOf(record.dynamodb?.NewImage as Record<string, unknown> | undefined),
    sequenceNumber: record.dynamodb?.SequenceNumber ?? '',
  };
}

/** parseRecord, loading the data keys of the Secrets it holds first (what stream consumers call). */
export async function parseRecordWithKeys(record: DynamoDBRecord): Promise<ObjectChange | undefined> {
  try {
    return await withDataKeys(() => parseRecord(record));
  } catch (e) {
    // A Secret that cannot be decrypted (its cluster's keys deleted with it, or a tampered item)
    // must not block the stream: the change goes on without its objects, which consumers skip.
    if (!(e instanceof EnvelopeError)) throw e;
    const bare = parseRecord({ ...record, dynamodb: { ...record.dynamodb, OldImage: undefined, NewImage: undefined } });
    return bare;
  }
}

/** Everything but status and resourceVersion: did the desired state change? */
export function desiredStateChanged(a: KubeObject | undefined, b: KubeObject | undefined): boolean {
  const strip = (o: KubeObject | undefined) => (o ? canonicalJson({ ...o, status: undefined, metadata: { ...o.metadata, resourceVersion: undefined } }) : '');
  return strip(a) !== strip(b);
}
