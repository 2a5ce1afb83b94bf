/**
 * core/v1 ConfigMap and Secret. Secret values travel base64-encoded in `data`; a value that is
 * not valid base64 is a decoding error (400), worded as Kubernetes words it.
 */
import { z } from 'zod';
import { typeMeta } from './meta';

/**
 * Where standard base64 (with padding) is broken, as Go's encoding/base64 reports it
 * ("illegal base64 data at input byte N"), or undefined when it is fine.
 */
export function base64Problem(s: string): string | undefined {
  const bad = /[^A-Za-z0-9+/=]/.exec(s);
  if (bad) return `illegal base64 data at input byte ${bad.index}`;
  const firstPad = s.indexOf('=');
  if (firstPad >= 0 && (firstPad < s.length - 2 || /[^=]/.test(s.slice(firstPad)))) return `illegal base64 data at input byte ${firstPad}`;
  if (s.length % 4 !== 0) return `illegal base64 data at input byte ${s.length - (s.length % 4)}`;
  return undefined;
}

const Base64Schema = z.string().superRefine((s, ctx) => {
  const problem = base64Problem(s);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const ConfigMapSchema = z.strictObject({
  ...typeMeta('v1', 'ConfigMap'),
  data: z.record(z.string(), z.string()).optional(),
  binaryData: z.record(z.string(), Base64Schema).optional(),
  immutable: z.boolean().optional(),
});
export type ConfigMap = z.infer<typeof ConfigMapSchema>;

export const SecretSchema = z.strictObject({
  ...typeMeta('v1', 'Secret'),
  data: z.record(z.string(), Base64Schema).optional(),
  /** Write-only convenience: merged into `data` (base64) on write, never stored or returned. */
  stringData: z.record(z.string(), z.string()).optional(),
  type: z.string().optional(),
  immutable: z.boolean().optional(),
});
export type Secret = z.infer<typeof SecretSchema>;
