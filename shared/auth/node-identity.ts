/**
 * Node identities: what `POST /clusters/NAME/stratus/v1/node-join` gives a node agent that
 * presents a bootstrap (join) token and a PKCS#10 CSR, as kubeadm's TLS bootstrap gives a kubelet
 * its client and serving certificates:
 *
 *   - a credential of its own: a bearer token (stored hashed like every token) for user
 *     `system:node:NAME`, groups `system:nodes` and `system:authenticated` (the node authorizer
 *     and NodeRestriction then scope it to that node);
 *   - its kubelet serving certificate, for the CSR's key, signed by the cluster's node CA
 *     (shared/auth/node-pki.ts), naming the node;
 *   - the cluster CA, which signs the one client certificate the agent accepts (the API's).
 *
 * Only bootstrappers (group system:bootstrappers, i.e. a join token of this cluster) may join.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config';
import { badRequest, forbidden } from '../errors';
import { dns1123SubdomainProblem } from '../schemas/meta';
import { issueNodeToken, nodeNameOf, nodeTokenLifetime, NODES_GROUP } from './node-credentials';
import { checkCsr, clusterPki, nodeUser, signNodeServingCert } from './node-pki';
import type { Identity } from './tokens';

export { nodeNameOf, NODES_GROUP };
export const NODE_JOIN_PATH = '/stratus/v1/node-join';

/** A new credential (bearer token) for node `nodeName` of `tenant` (lifetime: shared/auth/node-credentials.ts). */
export async function createNodeToken(doc: DynamoDBDocumentClient, config: Config, tenant: string, nodeName: string, lifetimeSeconds?: number): Promise<string> {
  return (await issueNodeToken({ doc, config }, tenant, nodeName, lifetimeSeconds === undefined ? {} : { lifetimeSeconds })).token;
}

export interface NodeJoinRequest {
  readonly nodeName: string;
  readonly csr: string;
  /** The token's life asked for (node-credentials.ts bounds it). @default 30 days */
  readonly tokenExpirationSeconds?: number;
}

export interface NodeJoinResult {
  readonly token: string;
  /** When the token stops working (RFC 3339); the agent renews it before (node-credentials.ts). */
  readonly tokenExpirationTimestamp: string;
  readonly certificate: string;
  readonly clusterCA: string;
  readonly nodeCA: string;
}

/** A renewal's answer: a new serving certificate, no new credential. */
export type NodeCertificateRenewal = Omit<NodeJoinResult, 'token' | 'tokenExpirationTimestamp'>;

/**
 * Joins node `req.nodeName` for `caller` (who must be a bootstrapper of its cluster), or renews
 * the serving certificate of a node that calls with its own credential (the kubelet's serving
 * certificate rotation, as a kubelet-serving CSR from `system:node:NAME` for its own name): the
 * same CSR checks, a certificate for the new key, and no new token.
 */
export async function joinNode(deps: { doc: DynamoDBDocumentClient; config: Config }, caller: Identity, req: NodeJoinRequest): Promise<NodeJoinResult | NodeCertificateRenewal> {
  const self = nodeNameOf(caller);
  if (self !== undefined) {
    if (self !== req.nodeName) throw forbidden(`node "${self}" can only renew its own serving certificate, not node "${req.nodeName}"'s`);
    const checked = await checkCsr(req.csr);
    if ('error' in checked) throw badRequest(checked.error);
    const cn = checked.csr.subjectName.getField('CN')[0];
    if (cn !== nodeUser(req.nodeName)) throw badRequest(`the certificate signing request must name CN=${nodeUser(req.nodeName)}, not ${JSON.stringify(cn ?? '')}`);
    const pki = await clusterPki(deps.doc, deps.config, caller.tenant);
    return { certificate: await signNodeServingCert(pki, req.nodeName, checked.csr), clusterCA: pki.clusterCaCert, nodeCA: pki.nodeCaCert };
  }
  if (!caller.groups.includes('system:bootstrappers'))
    throw forbidden(`User "${caller.user}" cannot join nodes: a bootstrap (join) token is needed (npx stratus cluster join-token ${caller.tenant})`);
  const problem = dns1123SubdomainProblem(req.nodeName);
  if (problem) throw badRequest(`invalid node name ${JSON.stringify(req.nodeName)}: ${problem}`);
  const checked = await checkCsr(req.csr);
  if ('error' in checked) throw badRequest(checked.error);
  // As Kubernetes' CSR approver checks a kubelet-serving CSR: the subject is the node's.
  const cn = checked.csr.subjectName.getField('CN')[0];
  if (cn !== nodeUser(req.nodeName)) throw badRequest(`the certificate signing request must name CN=${nodeUser(req.nodeName)}, not ${JSON.stringify(cn ?? '')}`);
  const lifetimeSeconds = nodeTokenLifetime(req.tokenExpirationSeconds);
  const pki = await clusterPki(deps.doc, deps.config, caller.tenant);
  const [certificate, issued] = await Promise.all([signNodeServingCert(pki, req.nodeName, checked.csr), issueNodeToken(deps, caller.tenant, req.nodeName, { lifetimeSeconds })]);
  return { token: issued.token, tokenExpirationTimestamp: issued.expiresAt, certificate, clusterCA: pki.clusterCaCert, nodeCA: pki.nodeCaCert };
}
