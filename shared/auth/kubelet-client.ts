/**
 * How the API server calls a node agent (logs, exec, attach, port-forward, pod proxy, stats):
 * mutual TLS with the cluster's PKI (shared/auth/node-pki.ts). It presents its kubelet client
 * certificate and trusts only a serving certificate signed by the cluster's node CA whose subject
 * is system:node:NAME for the Node it meant to reach: the Node's status address alone is never
 * trusted, so a Node a tenant registered pointing at its own listener gets a failed handshake,
 * and no secret.
 */
import type { Agent } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import type { ObjectStore } from '../store/store';
import { clusterPki, nodeUser } from './node-pki';

export interface KubeletTls {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  readonly rejectUnauthorized: true;
  readonly checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined;
  /** For a node in relay mode: the agent that opens a relay session per call (shared/relay/api-side.ts). */
  readonly agent?: Agent;
}

/** The serving certificate must name node `nodeName` (the chain was verified against the node CA). */
export function checkNodeIdentity(nodeName: string) {
  return (_host: string, cert: PeerCertificate): Error | undefined => {
    const cn = cert.subject?.CN;
    const got = Array.isArray(cn) ? cn[0] : cn;
    return got === nodeUser(nodeName) ? undefined : new Error(`the kubelet serving certificate names ${JSON.stringify(got ?? '')}, not ${nodeUser(nodeName)}`);
  };
}

/** TLS options for a call to node `nodeName` of `tenant`. */
export async function kubeletTls(store: ObjectStore, tenant: string, nodeName: string): Promise<KubeletTls> {
  const pki = await clusterPki(store.doc, store.config, tenant);
  return { ca: pki.nodeCaCert, cert: pki.apiClientCert, key: pki.apiClientKey, rejectUnauthorized: true, checkServerIdentity: checkNodeIdentity(nodeName) };
}
