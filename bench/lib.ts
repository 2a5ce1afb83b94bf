/** What the bench scripts share: a small HTTPS client for the local stack, and percentiles. */
import { request } from 'node:https';

/** One API call with the stack's CA and a bearer token; the body is parsed as JSON. */
export function call(base: string, ca: string, token: string, method: string, path: string, body?: unknown, type = 'application/json'): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'content-type': type };
    if (data) headers['content-length'] = String(Buffer.byteLength(data));
    const req = request(new URL(base + path), { method, ca, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

/** The p-th percentile (nearest rank) of `xs`; NaN for no samples. */
export function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN;
}
