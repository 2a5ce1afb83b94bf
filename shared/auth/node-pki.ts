/**
 * Each cluster's node PKI: what lets the API server and a node agent prove to each other who
 * they are on the API → agent path (logs, exec, attach, port-forward, pod proxy, stats), as
 * kube-apiserver and kubelets do with --kubelet-certificate-authority and the kubelet's serving
 * certificate.
 *
 *   node CA          signs each node's kubelet serving certificate (CN system:node:NAME,
 *                    O system:nodes, SAN DNS:NAME), issued at node-join from the agent's CSR.
 *                    The API trusts an agent only through it, and only for the Node it names.
 *   cluster CA       signs the API's kubelet client certificate (CN stratus:apiserver-kubelet-client).
 *                    Agents accept only a client certificate it signed. Two CAs, so a node's
 *                    serving certificate can never pass for the API's client certificate.
 *
 * Stored as one item (pk `${tenant}#~pki`, sk `node`, with the `tenant` attribute), so cluster
 * delete's `${tenant}#` scan removes it with the rest. Made on first use (a cluster made before
 * this existed gets it at its first join), with a conditional put so concurrent makers agree.
 * Private keys are PKCS#8 PEM, encrypted at rest as Secrets are (issue #16): the item's `sealed`
 * holds {nodeCaKey, apiClientKey} in an envelope under the cluster's data key
 * (shared/secrets/sealed-item.ts, place SEALED_NAME); certificates stay readable. An item of
 * the older clear form is read as it is and sealed in place at its first read while encryption
 * is on (a write conditional on the clear key).
 */
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config';
import { isEnvelope, openJson, sealedUnderOldKey, sealJson } from '../secrets/sealed-item';
import { secretsEncryptionEnabled } from '../secrets/store-codec';

x509.cryptoProvider.set(webcrypto as never);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** ECDSA P-256 with SHA-256: small keys, fast to make, what Go's and Node's TLS both take. */
export const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

export const API_CLIENT_CN = 'stratus:apiserver-kubelet-client';
const CA_DAYS = 3650;
const LEAF_DAYS = 365;

/** The subject common name of node NAME's serving certificate (and its user name). */
export const nodeUser = (nodeName: string) => `system:node:${nodeName}`;

export interface ClusterPki {
  readonly nodeCaCert: string;
  readonly nodeCaKey: string;
  readonly clusterCaCert: string;
  readonly apiClientCert: string;
  readonly apiClientKey: string;
}

export const pkiKey = (tenant: string) => ({ pk: `${tenant}#~pki`, sk: 'node' });
export const SEALED_NAME = '~node-pki-keys';

interface PrivateHalves {
  nodeCaKey: string;
  apiClientKey: string;
}

/** The stored attributes of a PKI: private keys sealed while encryption is on. */
async function storedPki(doc: DynamoDBDocumentClient, config: Config, tenant: string, pki: ClusterPki): Promise<Record<string, unknown>> {
  const { nodeCaKey, apiClientKey, ...certs } = pki;
  if (!secretsEncryptionEnabled()) return { ...pki };
  return { ...certs, sealed: await sealJson(doc, config, tenant, SEALED_NAME, { nodeCaKey, apiClientKey } satisfies PrivateHalves) };
}

/**
 * Seals the PKI item's private keys in place under the cluster's current data key: an item of
 * the clear form, or (`rotate`) one sealed under an older data key. Conditional on what was
 * read. Returns whether it wrote.
 */
export async function resealPki(doc: DynamoDBDocumentClient, config: Config, tenant: string, rotate = false): Promise<boolean> {
  if (!secretsEncryptionEnabled()) return false;
  const item = (await doc.send(new GetCommand({ TableName: config.objectsTable, Key: pkiKey(tenant), ConsistentRead: true }))).Item;
  if (!item || typeof item.nodeCaCert !== 'string') return false;
  let halves: PrivateHalves;
  let condition: { ConditionExpression: string; ExpressionAttributeValues: Record<string, unknown> };
  if (isEnvelope(item.sealed)) {
    if (!rotate || !(await sealedUnderOldKey(doc, config, tenant, item.sealed))) return false;
    halves = await openJson<PrivateHalves>(doc, config, tenant, SEALED_NAME, item.sealed);
    condition = { ConditionExpression: 'sealed = :old', ExpressionAttributeValues: { ':old': item.sealed } };
  } else if (typeof item.nodeCaKey === 'string') {
    halves = { nodeCaKey: item.nodeCaKey, apiClientKey: String(item.apiClientKey) };
    condition = { ConditionExpression: 'nodeCaKey = :old', ExpressionAttributeValues: { ':old': item.nodeCaKey } };
  } else return false;
  try {
    await doc.send(
      new UpdateCommand({
        TableName: config.objectsTable,
        Key: pkiKey(tenant),
        UpdateExpression: 'SET sealed = :s REMOVE nodeCaKey, apiClientKey',
        ...condition,
        ExpressionAttributeValues: { ...condition.ExpressionAttributeValues, ':s': await sealJson(doc, config, tenant, SEALED_NAME, halves) },
      }),
    );
    return true;
  } catch (e) {
    if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
    return false;
  }
}

/** A new EC key pair (extractable, so it can be written as PEM). */
export function newKeyPair(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

export async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function importPrivateKey(pem: string): Promise<CryptoKey> {
  return webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(pem), KEY_ALGORITHM, false, ['sign']) as Promise<CryptoKey>;
}

const serial = () => Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1');
const days = (n: number) => new Date(Date.now() + n * 86_400_000);
const backdated = () => new Date(Date.now() - 5 * 60_000);

async function makeCa(name: string): Promise<{ cert: string; key: string }> {
  const keys = await newKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore: backdated(),
    notAfter: days(CA_DAYS),
    keys: keys as never,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  return { cert: cert.toString('pem'), key: await privateKeyPem(keys.privateKey) };
}

async function issue(
  ca: { cert: string; key: string },
  subject: string,
  publicKey: x509.PublicKey | CryptoKey | ArrayBuffer,
  usage: 'server' | 'client',
  dnsNames: readonly string[] = [],
): Promise<string> {
  const issuer = new x509.X509Certificate(ca.cert);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject,
    issuer: issuer.subject,
    notBefore: backdated(),
    notAfter: days(LEAF_DAYS),
    publicKey: publicKey as never,
    signingKey: (await importPrivateKey(ca.key)) as never,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
      ...(dnsNames.length ? [new x509.SubjectAlternativeNameExtension(dnsNames.map((value) => ({ type: 'dns' as const, value })))] : []),
    ],
  });
  return cert.toString('pem');
}

export async function makePki(tenant: string): Promise<ClusterPki> {
  const [nodeCa, clusterCa, clientKeys] = await Promise.all([makeCa(`stratus-node-ca@${tenant}`), makeCa(`stratus-cluster-ca@${tenant}`), newKeyPair()]);
  const apiClientCert = await issue(clusterCa, `CN=${API_CLIENT_CN}`, clientKeys.publicKey, 'client');
  return { nodeCaCert: nodeCa.cert, nodeCaKey: nodeCa.key, clusterCaCert: clusterCa.cert, apiClientCert, apiClientKey: await privateKeyPem(clientKeys.privateKey) };
}

const cache = new Map<string, Promise<ClusterPki>>();

/** Cluster `tenant`'s PKI, made and stored on first use (cached per warm instance). */
export function clusterPki(doc: DynamoDBDocumentClient, config: Config, tenant: string): Promise<ClusterPki> {
  let p = cache.get(tenant);
  if (!p) {
    p = loadOrMake(doc, config, tenant);
    cache.set(tenant, p);
    // A failure (or a deleted cluster) is not remembered.
    p.catch(() => cache.delete(tenant));
    setTimeout(() => cache.get(tenant) === p && cache.delete(tenant), 60_000).unref();
  }
  return p;
}

async function loadOrMake(doc: DynamoDBDocumentClient, config: Config, tenant: string): Promise<ClusterPki> {
  const read = async () => {
    const out = await doc.send(new GetCommand({ TableName: config.objectsTable, Key: pkiKey(tenant), ConsistentRead: true }));
    const item = out.Item;
    if (!item || typeof item.nodeCaCert !== 'string') return undefined;
    const clear = !isEnvelope(item.sealed);
    const halves: PrivateHalves = clear
      ? { nodeCaKey: String(item.nodeCaKey), apiClientKey: String(item.apiClientKey) }
      : await openJson<PrivateHalves>(doc, config, tenant, SEALED_NAME, item.sealed as Uint8Array);
    return { pki: { nodeCaCert: item.nodeCaCert, nodeCaKey: halves.nodeCaKey, clusterCaCert: String(item.clusterCaCert), apiClientCert: String(item.apiClientCert), apiClientKey: halves.apiClientKey }, clear };
  };
  const have = await read();
  if (have) {
    if (have.clear) await resealPki(doc, config, tenant); // an item of the older, clear form
    return have.pki;
  }
  const made = await makePki(tenant);
  try {
    await doc.send(new PutCommand({ TableName: config.objectsTable, Item: { ...pkiKey(tenant), tenant, ...(await storedPki(doc, config, tenant, made)) }, ConditionExpression: 'attribute_not_exists(pk)' }));
    return made;
  } catch (err) {
    if ((err as Error).name !== 'ConditionalCheckFailedException') throw err;
    const other = await read();
    if (!other) throw err;
    return other.pki;
  }
}

/** Why a CSR cannot be signed, or undefined when it can. */
export async function checkCsr(csrPem: string): Promise<{ csr: x509.Pkcs10CertificateRequest } | { error: string }> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch {
    return { error: 'the certificate signing request is not a PEM-encoded PKCS#10 CSR' };
  }
  if (!(await csr.verify())) return { error: 'the certificate signing request has an invalid signature' };
  return { csr };
}

/** Node `nodeName`'s kubelet serving certificate for the key of `csr`, signed by the cluster's node CA. */
export async function signNodeServingCert(pki: ClusterPki, nodeName: string, csr: x509.Pkcs10CertificateRequest): Promise<string> {
  const publicKey = (await csr.publicKey.export(webcrypto as never)) as unknown as CryptoKey;
  return issue({ cert: pki.nodeCaCert, key: pki.nodeCaKey }, `CN=${nodeUser(nodeName)}, O=system:nodes`, publicKey, 'server', [nodeName]);
}

/** A PKCS#10 CSR (PEM) for node `nodeName`'s serving certificate, and its private key (PEM). */
export async function nodeCsr(nodeName: string): Promise<{ csr: string; key: string }> {
  const keys = await newKeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${nodeUser(nodeName)}, O=system:nodes`,
    keys: keys as never,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: nodeName }])],
  });
  return { csr: csr.toString('pem'), key: await privateKeyPem(keys.privateKey) };
}
