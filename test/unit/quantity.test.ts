import { describe, expect, it } from 'vitest';
import { cpuMillis, isQuantity, quantityValue } from '../../shared/schemas/quantity';

describe('quantities', () => {
  it.each([
    ['100m', 100],
    ['0.5', 500],
    ['1', 1000],
    ['2', 2000],
    ['1500m', 1500],
    ['0.0001', 1], // rounded up to the smallest unit
  ])('cpu %s is %i millicores', (q, want) => {
    expect(cpuMillis(q)).toBe(want);
  });

  it.each([
    ['128Mi', 128 * 2 ** 20],
    ['1Gi', 2 ** 30],
    ['1G', 1e9],
    ['1k', 1000],
    ['1e3', 1000],
    ['110', 110],
  ])('memory %s is %i', (q, want) => {
    expect(quantityValue(q)).toBe(want);
  });

  it('rejects what is not a quantity', () => {
    expect(isQuantity('12 cores')).toBe(false);
    expect(isQuantity('1Zi')).toBe(false);
    expect(isQuantity('')).toBe(false);
    expect(isQuantity('250m')).toBe(true);
  });
});
