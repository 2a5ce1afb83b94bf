import { describe, expect, it } from 'vitest';
import { freeIndexes, indexOfCidr, nodeCidrAt, parsePool, poolSize } from '../../shared/store/pod-cidrs';

describe('pod CIDR pool (node IPAM)', () => {
  it.each([
    ['10.128.0.0/12', { bits: 12, size: 4096, first: '10.128.0.0/24', last: '10.143.255.0/24' }],
    ['10.200.0.0/16', { bits: 16, size: 256, first: '10.200.0.0/24', last: '10.200.255.0/24' }],
    ['192.168.7.0/24', { bits: 24, size: 1, first: '192.168.7.0/24', last: '192.168.7.0/24' }],
  ])('parses %s', (pool, want) => {
    const p = parsePool(pool);
    if (typeof p === 'string') throw new Error(p);
    expect(p.bits).toBe(want.bits);
    expect(poolSize(p)).toBe(want.size);
    expect(nodeCidrAt(p, 0)).toBe(want.first);
    expect(nodeCidrAt(p, want.size - 1)).toBe(want.last);
  });

  it.each([
    ['10.128.0.1/12', /host bits/],
    ['10.128.0.0/25', /between \/8 and \/24/],
    ['10.128.0.0/4', /between \/8 and \/24/],
    ['300.1.1.0/16', /octet/],
    ['fd00::/48', /not an IPv4 CIDR/],
    ['', /not an IPv4 CIDR/],
  ])('refuses %s', (pool, why) => {
    expect(parsePool(pool)).toMatch(why);
  });

  it.each([
    ['10.128.0.0/24', 0],
    ['10.128.1.0/24', 1],
    ['10.143.255.0/24', 4095],
    ['10.144.0.0/24', undefined], // past the pool
    ['10.127.255.0/24', undefined], // before it
    ['10.128.1.5/24', undefined], // not a network address
    ['10.128.1.0/23', undefined], // not a /24
  ])('index of %s', (cidr, want) => {
    const p = parsePool('10.128.0.0/12');
    if (typeof p === 'string') throw new Error(p);
    expect(indexOfCidr(p, cidr)).toBe(want);
  });

  it('free indexes are the lowest not taken', () => {
    expect(freeIndexes(6, new Set([0, 1, 3]), 10)).toEqual([2, 4, 5]);
    expect(freeIndexes(6, new Set([0, 1, 3]), 2)).toEqual([2, 4]);
    expect(freeIndexes(2, new Set([0, 1]), 10)).toEqual([]);
  });
});
