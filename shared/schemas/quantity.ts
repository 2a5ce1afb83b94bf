/**
 * Kubernetes resource quantities ("100m", "0.5", "128Mi", "1G", "1e3").
 * Parsed to plain numbers: cpu in millicores, everything else in base units (bytes, count).
 */
const QUANTITY = /^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$/;

const SUFFIX: Record<string, number> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

export function isQuantity(s: string): boolean {
  const m = QUANTITY.exec(s);
  return !!m && Number.isFinite(Number(m[1]));
}

/** The quantity's value in base units, or undefined when it is not a quantity. */
export function parseQuantity(q: string | number): number | undefined {
  if (typeof q === 'number') return Number.isFinite(q) ? q : undefined;
  const m = QUANTITY.exec(q.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  if (!Number.isFinite(n)) return undefined;
  return n * SUFFIX[m[2] ?? '']!;
}

/** cpu quantity → millicores, rounded up as Kubernetes does (1m is the smallest unit). */
export function cpuMillis(q: string | number | undefined): number {
  if (q === undefined) return 0;
  const v = parseQuantity(q);
  return v === undefined ? 0 : Math.ceil(v * 1000 - 1e-9);
}

/** memory (or any non-cpu) quantity → whole units, rounded up. */
export function quantityValue(q: string | number | undefined): number {
  if (q === undefined) return 0;
  const v = parseQuantity(q);
  return v === undefined ? 0 : Math.ceil(v - 1e-9);
}
