import { request } from 'node:http';

export interface HostReply {
  status: number;
  /** Trimmed. */
  body: string;
  /** The Location header, when there is one. */
  location?: string;
}

/**
 * A plain HTTP GET of 127.0.0.1:`port` with a Host header (as to an ingress on that port), on a
 * connection of its own; undefined when no answer came (refused, reset, or `timeoutMs` of silence).
 */
export function hostGet(port: number, host: string, path: string, timeoutMs = 5000): Promise<HostReply | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host }, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim(), ...(res.headers.location ? { location: res.headers.location } : {}) }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}
