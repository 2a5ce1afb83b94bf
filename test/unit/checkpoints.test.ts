import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointFile } from '../../infra/local/checkpoints';

const file = () => join(mkdtempSync(join(tmpdir(), 'stratus-ckpt-')), 'checkpoints.json');

describe('stream checkpoints file', () => {
  it('gives a restarted consumer the checkpoints the last run saved, per consumer and stream', () => {
    const path = file();
    const first = new CheckpointFile(path);
    let seq: string | undefined = '100';
    first.track('controllers', 'arn:s1', { snapshot: () => ({ shardA: seq, shardB: undefined }) });
    first.track('scheduler', 'arn:s1', { snapshot: () => ({ shardA: '7' }) });
    seq = '205';
    first.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);

    const second = new CheckpointFile(path);
    expect([...second.initial('controllers', 'arn:s1')]).toEqual([['shardA', '205']]);
    expect([...second.initial('scheduler', 'arn:s1')]).toEqual([['shardA', '7']]);
    expect([...second.initial('controllers', 'arn:other')]).toEqual([]);
  });

  it('keeps a shard saved earlier that this run has not seen yet', () => {
    const path = file();
    writeFileSync(path, JSON.stringify({ 'c arn': { old: '5' } }));
    const f = new CheckpointFile(path);
    f.track('c', 'arn', { snapshot: () => ({ new: '9' }) });
    f.close();
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ 'c arn': { old: '5', new: '9' } });
  });

  it.each([['not JSON', '{'], ['not an object', '42'], ['wrong types', '{"c arn": {"s": 5}}']])('starts empty from an unreadable file (%s)', (_case, text) => {
    const path = file();
    writeFileSync(path, text);
    expect([...new CheckpointFile(path).initial('c', 'arn')]).toEqual([]);
  });
});
