import { parseQuantity } from '../schemas/quantity';

/*
 * Quantity arithmetic for quota and LimitRange: amounts as whole milli-units (so cpu's "100m"
 * and memory's "128Mi" add exactly), and Kubernetes' canonical printing (resource.Quantity's
 * String()): "500m", "2", "1Gi", "1500Mi", "2k". A value keeps the format of the quantity it
 * came from (binary "Mi" or decimal), as Quantity.Add keeps its receiver's.
 */

export interface Amount {
  /** The value in thousandths of its unit, rounded up (Kubernetes rounds up to 1m). */
  readonly milli: number;
  /** Printed with binary suffixes (Ki, Mi, Gi...) when whole multiples allow. */
  readonly binary: boolean;
}

/** A resource list (`requests`, `hard`, `used`) as amounts. */
export type Amounts = Record<string, Amount>;

const BINARY = /(Ki|Mi|Gi|Ti|Pi|Ei)$/;

export function amount(q: string | number): Amount | undefined {
  const v = parseQuantity(q);
  if (v === undefined) return undefined;
  return { milli: Math.ceil(v * 1000 - 1e-6), binary: typeof q === 'string' && BINARY.test(q.trim()) };
}

export const count = (n: number): Amount => ({ milli: n * 1000, binary: false });
export const ZERO: Amount = count(0);

export const plus = (a: Amount, b: Amount): Amount => ({ milli: a.milli + b.milli, binary: a.milli === 0 ? b.binary : a.binary });
export const minus = (a: Amount, b: Amount): Amount => ({ milli: a.milli - b.milli, binary: a.binary });

const DECIMAL = ['', 'k', 'M', 'G', 'T', 'P', 'E'];
const BINARY_SUFFIXES = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

/** Kubernetes' canonical form of an amount. */
export function formatAmount(a: Amount): string {
  if (a.milli % 1000 !== 0) return `${a.milli}m`;
  const v = a.milli / 1000;
  if (v === 0) return '0';
  const sign = v < 0 ? '-' : '';
  let n = Math.abs(v);
  if (a.binary) {
    let i = 0;
    while (i < BINARY_SUFFIXES.length - 1 && n % 1024 === 0) {
      n /= 1024;
      i++;
    }
    if (i > 0 || Math.abs(v) < 1024) return `${sign}${n}${BINARY_SUFFIXES[i]}`;
    n = Math.abs(v); // not a whole number of Ki: decimal, as Kubernetes falls back
  }
  let i = 0;
  while (i < DECIMAL.length - 1 && n % 1000 === 0) {
    n /= 1000;
    i++;
  }
  return `${sign}${n}${DECIMAL[i]}`;
}

/** A resource list from the wire (unparseable values are left out: validation refuses them). */
export function amountsOf(list: Readonly<Record<string, unknown>> | undefined): Amounts {
  const out: Amounts = {};
  for (const [k, v] of Object.entries(list ?? {})) {
    const a = typeof v === 'string' || typeof v === 'number' ? amount(v) : undefined;
    if (a) out[k] = a;
  }
  return out;
}

/** A resource list for the wire, keys sorted. */
export function formatAmounts(list: Amounts): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(list).sort()) out[k] = formatAmount(list[k]!);
  return out;
}

/** Sum of two lists, key by key. */
export function addAmounts(a: Amounts, b: Amounts): Amounts {
  const out: Amounts = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = out[k] ? plus(out[k], v) : v;
  return out;
}

/** `k=v` pairs sorted by key and joined by commas (the quota admission's prettyPrint). */
export const prettyPrint = (list: Amounts): string =>
  Object.keys(list)
    .sort()
    .map((k) => `${k}=${formatAmount(list[k]!)}`)
    .join(',');
