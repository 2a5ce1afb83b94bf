/**
 * A cluster PKI and node identity for unit tests of the kubelet endpoint (mutual TLS, issue #16),
 * and a client that calls it as the API does (or without / with a wrong certificate).
 */
import https from 'node:https';
import { checkNodeIdentity } from '../../shared/auth/kubelet-client';
import { checkCsr, makePki, nodeCsr, signNodeServingCert, type ClusterPki } from '../../shared/auth/node-pki';

export interface TestNodeTls {
  readonly pki: ClusterPki;
  readonly nodeName: string;
  /** KubeletServer's tls option. */
  readonly server: { key: string; cert: string; clientCA: string };
}

export async function testNodeTls(nodeName = 'n1', tenant = 'unit'): Promise<TestNodeTls> {
  const pki = await makePki(tenant);
  const { csr, key } = await nodeCsr(nodeName);
  const checked = await checkCsr(csr);
  if ('error' in checked) throw new Error(checked.error);
  const cert = await signNodeServingCert(pki, nodeName, checked.csr);
  return { pki, nodeName, server: { key, cert, clientCA: pki.clusterCaCert } };
}

/** GET/POST `path` of the kubelet endpoint on 127.0.0.1:`port`; `as: 'api'` presents the API's client certificate. */
export function kubeletCall(
  t: TestNodeTls,
  port: number,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; as?: 'api' | 'none' } = {},
): Promise<{ status: number; text: string }> {
  const client = (opts.as ?? 'api') === 'api' ? { cert: t.pki.apiClientCert, key: t.pki.apiClientKey } : {};
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers ?? {}, agent: false, ca: t.pki.nodeCaCert, checkServerIdentity: checkNodeIdentity(t.nodeName), ...client },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}
