/**
 * `stratus agent`: runs a node agent on this host.
 *
 *   STRATUS_JOIN_TOKEN=T node --import tsx node-agent/main.ts agent --server https://127.0.0.1:8443/clusters/default --name N
 *
 * bin/stratus.mjs calls runAgentCli(argv) with argv starting at the command ("agent", ...).
 * The SQS endpoint comes from the AWS SDK's own AWS_ENDPOINT_URL_SQS (or AWS_ENDPOINT_URL).
 * SIGINT/SIGTERM stop the agent and leave containers running: a restarted agent adopts them.
 */
import { createSqsClient } from '../shared/queue';
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_DOCKER_BRIDGE_POOL, DockerBridgeNetwork, parseDockerBridgePool } from './network/docker-bridge';
import { NodeBridgeNetwork } from './network/node-bridge';
import { DEFAULT_POD_CIDR_POOL } from '../shared/store/pod-cidrs';
import { z } from 'zod';
import { POD_NETWORKS, type PodNetwork, type PodNetworkName } from './network/pod-network';
import Docker from 'dockerode';
import os from 'node:os';
import { readFileSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, nodeDeadLetterQueueName, nodeQueueName } from '../shared/config';
import { NodeAgent } from './agent';
import { KubeApiClient, KubeApiError } from './api-client';
import { ApiConfigSource } from './config-source';
import { DockerRuntime } from './docker-runtime';
import { ApiEventRecorder } from './events';
import { agentLogger, errorMessage, type Logger } from './log';
import { KubeletServer } from './kubelet-server';
import { KubeletRelayClient } from './kubelet-relay';
import { KUBELET_RELAY_ANNOTATION, type RelaySessionMessage } from '../shared/relay/session';
import { identityDir, joinCluster, readIdentity, renewalTime, renewNodeToken, renewServingCertificate, tokenRenewalTime, tokenRetryDelay, type NodeIdentity, type TokenExpiry } from './identity';
import { AgentMetrics } from './metrics';
import type { Pod } from './types';
import { DockerUsageSource, StatsProvider } from './stats';
import { DockerExecutor } from './exec';
import { NetnsConnector } from './pod-connector';
import { PortForwardServer } from './port-forward';
import { nodeImages, readHostFacts, readHostReadings } from './node-status';
import { PlacementQueue } from './placement-queue';
import { fetchPlacementKey, PlacementKeyring } from './placement-key';
import { ApiClusterView } from './network/api-cluster-view';
import { ServiceProxy } from './network/service-proxy';
import { HealthCheckServer } from './network/health-check';
import { NetworkPolicyEnforcer } from './network/network-policy';
import type { ClusterView } from './network/cluster-view';
import { defaultClusterDNS } from '../shared/kube-dns-service';
import { bridgeName, gatewayOf } from './network/node-bridge';
import { IngressProxy } from './network/ingress-proxy';
import { INGRESS_PORT_ANNOTATION, INGRESS_TLS_PORT_ANNOTATION, STRATUS_INGRESS_CONTROLLER } from '../shared/ingress/default-class';

export interface AgentCliOptions {
  readonly server: string;
  /** A node credential given by hand (no kubelet endpoint then); a join token or a kept identity is the norm. */
  readonly token?: string;
  /** A bootstrap token: joins the cluster when the root dir keeps no identity yet (node-agent/identity.ts). */
  readonly joinToken?: string;
  readonly name?: string;
  readonly tenant?: string;
  readonly caFile?: string;
  readonly insecureSkipTlsVerify?: boolean;
  readonly resyncSeconds: number;
  readonly maxPods: number;
  readonly pauseImage: string;
  readonly queue: boolean;
  readonly kubeletPort: number;
  readonly rootDir: string;
  readonly allowPrivileged?: boolean;
  /** Directories pods may mount as hostPath on this node (node-agent/security.ts). @default none */
  readonly hostPathAllow?: string[];
  readonly registerWithTaints?: { key: string; value?: string; effect: string }[];
  /** @default 'docker-bridge' */
  readonly podNetwork?: PodNetworkName;
  /** The range the docker-bridge network's /24 comes from (--docker-bridge-pool). @default DEFAULT_DOCKER_BRIDGE_POOL */
  readonly dockerBridgePool?: string;
  /** @default POWERTOOLS_LOG_LEVEL, LOG_LEVEL, else info (node-agent/log.ts) */
  readonly logLevel?: AgentLogLevel;
  /** The kube-dns ClusterIP (--cluster-dns). @default the 10th address of the service CIDR */
  readonly clusterDns?: string;
  /** @default cluster.local */
  readonly clusterDomain?: string;
  /** @default /etc/resolv.conf */
  readonly resolvConf?: string;
  /** The Ingress proxy's port (node-bridge only); 0 picks a free one. @default 0 */
  readonly ingressPort?: number;
  /** The address the Ingress proxy listens on. @default 0.0.0.0 */
  readonly ingressAddress?: string;
  /** false: no Ingress proxy on this node. @default true */
  readonly ingress?: boolean;
  /** The Ingress proxy's TLS port (HTTPS and HTTP/2, spec.tls); 0 picks a free one. @default 0 */
  readonly ingressTlsPort?: number;
  /** How often the Secrets named in spec.tls are read again, in seconds. @default 30 */
  readonly ingressSecretRefreshSeconds?: number;
  /**
   * More addresses the service health checks (externalTrafficPolicy Local) listen on besides the
   * node's bridge gateway: the InternalIP on a host of its own (EC2, an NLB's health check).
   * @default none
   */
  readonly healthCheckAddresses?: readonly string[];
  /**
   * Relay mode (docs/exec.md): no listening kubelet port; every API → agent call comes over
   * sessions this node dials out to the kubelet relay at this URL (wss://...), announced on its
   * own queue. The relay's certificate is checked against --ca-file when given.
   */
  readonly relayUrl?: string;
  /** The life asked for the node's API credential at join and renewal (the API allows 10 s to 30 days). @default 30 days */
  readonly tokenLifetimeSeconds?: number;
}

/** What --log-level accepts (Powertools' levels). */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type AgentLogLevel = (typeof LOG_LEVELS)[number];

/** What a pod network needs from the agent. */
export interface PodNetworkContext {
  readonly docker: Docker;
  readonly api: KubeApiClient;
  readonly tenant: string;
  readonly nodeName: string;
  readonly rootDir: string;
  readonly log: Logger;
  /** The cluster's Services for the node's DNS (node-bridge only). @default none */
  readonly clusterView?: ClusterView;
  /** The kube-dns ClusterIP pods are given (the kubelet's clusterDNS). @default the 10th address of the service CIDR */
  readonly clusterDNS?: string;
  /** @default cluster.local */
  readonly clusterDomain?: string;
  /** The host's resolv.conf (the kubelet's --resolv-conf): pods' Default policy and the DNS's upstreams. @default /etc/resolv.conf */
  readonly resolvConf?: string;
  /** The range the docker-bridge network's /24 comes from (docker-bridge only). @default DEFAULT_DOCKER_BRIDGE_POOL */
  readonly dockerBridgePool?: string;
}

/** The pod network of a name (--pod-network); network/pod-network.ts has the contract. */
export function makePodNetwork(name: PodNetworkName = 'docker-bridge', ctx?: PodNetworkContext): PodNetwork {
  switch (name) {
    case 'docker-bridge':
      if (!ctx) throw new Error('the docker-bridge pod network needs the agent context');
      // The cluster's own Docker network on this host, with the agent's nft table (docker-bridge.ts).
      return new DockerBridgeNetwork({
        docker: ctx.docker,
        tenant: ctx.tenant,
        log: ctx.log,
        hostPorts: apiHostPorts(),
        ...(ctx.resolvConf ? { hostResolvConf: ctx.resolvConf } : {}),
        ...(ctx.dockerBridgePool ? { pool: ctx.dockerBridgePool } : {}),
      });
    case 'node-bridge': {
      if (!ctx) throw new Error('the node-bridge pod network needs the agent context');
      const { api } = ctx;
      return new NodeBridgeNetwork({
        docker: ctx.docker,
        tenant: ctx.tenant,
        nodeName: ctx.nodeName,
        stateDir: ctx.rootDir,
        podCidrPool: loadConfig().podCidrPool ?? DEFAULT_POD_CIDR_POOL,
        log: ctx.log,
        hostPorts: apiHostPorts(),
        ...(ctx.clusterView ? { clusterView: ctx.clusterView, clusterDNS: ctx.clusterDNS ?? defaultClusterDNS(loadConfig().serviceCidr) } : {}),
        ...(ctx.clusterDomain ? { clusterDomain: ctx.clusterDomain } : {}),
        ...(ctx.resolvConf ? { hostResolvConf: ctx.resolvConf } : {}),
        // This cluster's nodes' ranges: their bridges are the ones its pods may reach.
        clusterPodCIDRs: () => clusterPodCIDRs(api),
      });
    }
  }
}

/**
 * The host ports pods may reach: the API's pod-facing address and port (the `kubernetes`
 * Service's endpoint), when the stack says where it is (STRATUS_API_POD_ADDRESS/PORT; the local
 * stack sets both). Read from the agent's own configuration, never from the tenant-writable
 * Endpoints, so no tenant can open another host port to its pods.
 */
export function apiHostPorts(env: NodeJS.ProcessEnv = process.env): { address: string; protocol: 'tcp'; port: number }[] {
  if (!env.STRATUS_API_POD_ADDRESS || !env.STRATUS_API_POD_PORT) return [];
  const { apiPodAddress, apiPodPort } = loadConfig(env);
  return apiPodAddress && apiPodPort && Number.isInteger(apiPodPort) ? [{ address: apiPodAddress, protocol: 'tcp', port: apiPodPort }] : [];
}

/** This cluster's nodes' pod ranges (every Node's spec.podCIDRs). */
const clusterPodCIDRs = async (api: KubeApiClient): Promise<string[]> =>
  (await api.get('/api/v1/nodes', NodeCidrListSchema)).items.flatMap((n) => n.spec?.podCIDRs ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : []));

const NodeCidrListSchema = z.object({ items: z.array(z.looseObject({ spec: z.looseObject({ podCIDR: z.string().optional(), podCIDRs: z.array(z.string()).optional() }).optional() })) });

/** The tenant of a server URL with a /clusters/{name} path, else undefined. */
export function tenantFromServer(server: string): string | undefined {
  const m = /\/clusters\/([^/]+)/.exec(new URL(server).pathname);
  return m ? decodeURIComponent(m[1]) : undefined;
}

/** Several agents may share a host (and a root dir): each keeps its pods under its node name. */
const resolvePath = (rootDir: string, nodeName: string): string => join(resolve(rootDir), nodeName);

/** Node names are DNS subdomains: lower case. */
export const defaultNodeName = (): string => os.hostname().toLowerCase();

const port = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number (0: any free port)');
  return n;
};

/** The kubelet's --register-with-taints syntax: key[=value]:Effect, comma-separated. */
export function parseTaints(v: string): { key: string; value?: string; effect: string }[] {
  return v.split(',').filter(Boolean).map((t) => {
    const m = /^([^=:]+)(?:=([^:]*))?:(NoSchedule|PreferNoSchedule|NoExecute)$/.exec(t.trim());
    if (!m) throw new InvalidArgumentError(`invalid taint "${t}": want key[=value]:NoSchedule|PreferNoSchedule|NoExecute`);
    return { key: m[1]!, ...(m[2] !== undefined ? { value: m[2] } : {}), effect: m[3]! };
  });
}

/** Comma-separated absolute directories (repeatable). */
const parseDirs = (v: string, previous: string[] = []): string[] => {
  const dirs = v.split(',').map((d) => d.trim()).filter(Boolean);
  const relative = dirs.find((d) => !d.startsWith('/'));
  if (relative) throw new InvalidArgumentError(`"${relative}" is not an absolute path`);
  return [...previous, ...dirs];
};

/** A --docker-bridge-pool value: an IPv4 CIDR of /8 to /24 without host bits. */
const dockerBridgePool = (v: string): string => {
  try {
    parseDockerBridgePool(v);
  } catch (e) {
    throw new InvalidArgumentError(errorMessage(e));
  }
  return v.trim();
};

const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
};

/** Starts an agent and resolves once it has stopped (after SIGINT/SIGTERM). */
export async function runAgent(o: AgentCliOptions): Promise<void> {
  const nodeName = o.name ?? defaultNodeName();
  const tenant = o.tenant ?? tenantFromServer(o.server) ?? 'default';
  const log = agentLogger({ node: nodeName, tenant, ...(o.logLevel ? { logLevel: o.logLevel } : {}) });
  const config = loadConfig();
  const docker = new Docker();
  const rootDir = resolvePath(o.rootDir, nodeName);
  const identity = await nodeIdentity(o, nodeName, rootDir, log);
  let token = identity?.token ?? o.token;
  if (!token) throw new Error('no node credentials: give --join-token-file FILE (or $STRATUS_JOIN_TOKEN) to join the cluster');
  const api = new KubeApiClient({
    server: o.server,
    token,
    ...(o.caFile ? { caFile: o.caFile } : {}),
    insecureSkipTlsVerify: o.insecureSkipTlsVerify ?? false,
  });
  const host = await readHostFacts(docker);
  const dockerRootDir = (await docker.info() as { DockerRootDir?: string }).DockerRootDir;
  const recorder = new ApiEventRecorder(api, nodeName, log);
  // The cluster's Services for the service proxy and DNS: only pods on the node's own bridge use them.
  const clusterView = o.podNetwork === 'node-bridge' ? new ApiClusterView({ api, log }) : undefined;
  const network = makePodNetwork(o.podNetwork, {
    docker,
    api,
    tenant,
    nodeName,
    rootDir,
    log,
    ...(clusterView ? { clusterView } : {}),
    ...(o.clusterDns ? { clusterDNS: o.clusterDns } : {}),
    ...(o.clusterDomain ? { clusterDomain: o.clusterDomain } : {}),
    ...(o.resolvConf ? { resolvConf: o.resolvConf } : {}),
    ...(o.dockerBridgePool ? { dockerBridgePool: o.dockerBridgePool } : {}),
  });
  const runtime = new DockerRuntime({
    network,
    docker,
    nodeName,
    tenant,
    hostIP: host.internalIP,
    pauseImage: o.pauseImage,
    recorder,
    config: new ApiConfigSource(api),
    nodeCpuCores: host.cpus,
    nodeMemoryBytes: host.memoryBytes,
    rootDir,
    allowPrivileged: o.allowPrivileged ?? false,
    ...(clusterView ? { clusterView } : {}),
    hostPathAllow: o.hostPathAllow ?? [],
    // Docker's own state (every container's files) and the local stack's (.stratus/: tokens,
    // keys, the store) are never a pod's to mount.
    hostPathDeny: [...(dockerRootDir ? [dockerRootDir] : []), resolve('.stratus')],
    log,
  });
  const exec = new DockerExecutor({ docker, nodeName, tenant, log });
  // Pod series are read from the agent when scraped (it is made below; nothing scrapes before).
  let agentRef: { knownPods(): Pod[] } | undefined;
  const metrics = new AgentMetrics(nodeName, { pods: () => agentRef?.knownPods() ?? [] });
  const portForward = new PortForwardServer({ connector: new NetnsConnector({ docker, nodeName, tenant }), tenant, log });
  // Mutual TLS with the node's own serving certificate (see kubelet-server.ts); without a joined
  // identity (a credential given by --token) the node serves no logs, exec or metrics.
  const kubelet = identity
    ? new KubeletServer({
        logs: runtime,
        exec,
        portForward,
        metrics,
        stats: new StatsProvider(nodeName, new DockerUsageSource(docker, { nodeName, tenant })),
        tls: { key: identity.servingKey, cert: identity.servingCert, clientCA: identity.clusterCA },
        port: o.kubeletPort,
        log,
      })
    : undefined;
  if (o.relayUrl && (!kubelet || !o.queue)) throw new Error('relay mode (--relay-url) needs a joined node identity and the placement queue');
  // In relay mode nothing listens: API calls arrive as relay sessions the node dials (kubelet-relay.ts).
  const kubeletPort = kubelet && !o.relayUrl ? await kubelet.listen() : 0;
  if (kubelet && !o.relayUrl) log.info('kubelet endpoint listening', { port: kubeletPort });
  const relayClient =
    kubelet && o.relayUrl
      ? new KubeletRelayClient({ url: o.relayUrl.replace(/\/+$/, ''), tenant, token: () => token!, ...(o.caFile ? { ca: readFileSync(o.caFile, 'utf8') } : {}), server: kubelet, log })
      : undefined;
  if (relayClient) log.info('kubelet endpoint in relay mode: no listening port', { relay: o.relayUrl });
  // Token rotation (identity.ts): a joined node renews its API credential at 80% of its life; every
  // client of the agent shares `api`, which takes the new token from its next request on.
  const tokenRotation = identity
    ? rotateNodeToken({
        o,
        nodeName,
        dir: identityDir(rootDir),
        token,
        expiry: identity.tokenExpiry,
        log,
        renewed: (t) => {
          token = t;
          api.setToken(t);
        },
      })
    : undefined;
  if (!identity) log.warn('node credential given by hand (--token): it is not renewed, and stops working when it expires');
  // Serving-certificate rotation (identity.ts): renewed with the node's own credential before it expires.
  const rotation = kubelet && identity ? rotateServingCertificate({ o, nodeName, dir: identityDir(rootDir), token: () => token!, cert: identity.servingCert, kubelet, log }) : undefined;
  if (!kubelet) log.warn('no node identity (started with --token, not joined): this node serves no logs, exec or metrics');
  // The key this node's placements are sealed with, fetched with the node's own credential (placement-key.ts).
  const placementKeys = o.queue ? new PlacementKeyring({ cluster: tenant, nodeName, fetch: fetchPlacementKey(api.post.bind(api), nodeName), log }) : undefined;
  void placementKeys?.load();
  const queue = o.queue
    ? new PlacementQueue({
        sqs: createSqsClient(config),
        queueName: nodeQueueName(config.queuePrefix, tenant, nodeName),
        deadLetterQueueName: nodeDeadLetterQueueName(config.queuePrefix, tenant, nodeName),
        log,
        ...(placementKeys ? { keys: placementKeys } : {}),
        ...(relayClient ? { onRelay: (msg: RelaySessionMessage) => relayClient.serve(msg) } : {}),
      })
    : undefined;
  // kube-proxy's role: the node's nft service table from the view (network/service-proxy.ts).
  const serviceProxy =
    clusterView && network instanceof NodeBridgeNetwork
      ? new ServiceProxy({
          view: clusterView,
          log,
          node: () => ({ nodeName, bridge: bridgeName(network.podCIDRs[0] ?? ''), nodeIPs: host.internalIP === '127.0.0.1' ? [] : [host.internalIP], cluster: tenant }),
          // A NodePort another cluster's table on this host holds is not programmed: a Warning on the Service.
          serviceEvent: (svc, type, reason, message) =>
            recorder.eventFor({ apiVersion: 'v1', kind: 'Service', namespace: svc.metadata.namespace ?? 'default', name: svc.metadata.name ?? '', ...(svc.metadata.uid ? { uid: svc.metadata.uid } : {}) }, type, reason, message, 'kube-proxy'),
        })
      : undefined;
  void serviceProxy?.start();
  // kube-proxy's health checks of externalTrafficPolicy Local Services, on the node's gateway (network/health-check.ts).
  const healthChecks =
    clusterView && serviceProxy ? new HealthCheckServer({ view: clusterView, nodeName, log, addresses: () => [...(network.podCIDRs[0] ? [gatewayOf(network.podCIDRs[0])] : []), ...(o.healthCheckAddresses ?? [])] }) : undefined;
  healthChecks?.start();
  // NetworkPolicy enforcement: the node's nft policy table from the same view (network/network-policy.ts).
  const policies =
    clusterView && network instanceof NodeBridgeNetwork
      ? new NetworkPolicyEnforcer({
          view: clusterView,
          log,
          node: () => {
            const bridge = bridgeName(network.podCIDRs[0] ?? '');
            return { nodeName, bridge, dnsAddress: gatewayOf(network.podCIDRs[0] ?? '') };
          },
        })
      : undefined;
  void policies?.start();
  // The Ingress controller's proxy (network/ingress-proxy.ts): its ports go on the Node, where the
  // Ingress status controller reads them (functions/controllers/ingress-status.ts).
  const ingressSecrets = new ApiConfigSource(api);
  const ingressProxy =
    clusterView && o.ingress !== false
      ? new IngressProxy({
          view: clusterView,
          log,
          controller: STRATUS_INGRESS_CONTROLLER,
          port: o.ingressPort ?? 0,
          address: o.ingressAddress ?? '0.0.0.0',
          clusterPodCIDRs: () => clusterPodCIDRs(api),
          podCidrPool: config.podCidrPool ?? DEFAULT_POD_CIDR_POOL,
          // The TLS listener reads the Secrets spec.tls names, by name (the node may get no others).
          readSecret: async (namespace: string, name: string) => (await ingressSecrets.secret(namespace, name))?.data,
          tlsPort: o.ingressTlsPort ?? 0,
          secretRefreshMs: (o.ingressSecretRefreshSeconds ?? 30) * 1000,
        })
      : undefined;
  const ingressPort = ingressProxy ? await ingressProxy.listen() : 0;
  if (ingressProxy) log.info('ingress proxy listening', { address: o.ingressAddress ?? '0.0.0.0', port: ingressPort, tlsPort: ingressProxy.tlsPort });
  const agent = new NodeAgent({
    metrics,
    ...(clusterView ? { clusterView } : {}),
    ...(network.configure ? { configureNetwork: (cidrs: readonly string[]) => network.configure!(cidrs) } : {}),
    api,
    runtime,
    recorder,
    nodeName,
    tenant,
    host,
    log,
    resyncSeconds: o.resyncSeconds,
    maxPods: o.maxPods,
    ...(queue ? { queue } : {}),
    ...(o.registerWithTaints ? { registerWithTaints: o.registerWithTaints } : {}),
    ...(ingressProxy || relayClient
      ? {
          nodeAnnotations: {
            ...(ingressProxy ? { [INGRESS_PORT_ANNOTATION]: String(ingressPort), ...(ingressProxy.tlsPort ? { [INGRESS_TLS_PORT_ANNOTATION]: String(ingressProxy.tlsPort) } : {}) } : {}),
            ...(relayClient ? { [KUBELET_RELAY_ANNOTATION]: 'true' } : {}),
          },
        }
      : {}),
    observeNode: async () => ({
      kubeletPort,
      readings: await readHostReadings(rootDir, dockerRootDir),
      images: nodeImages(await docker.listImages()),
    }),
  });

  agentRef = agent;
  log.info('starting node agent', { server: o.server, docker: host.containerRuntimeVersion });
  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    log.info('stopping node agent (containers keep running)', { signal });
    rotation?.stop();
    tokenRotation?.stop();
    stopping ??= agent
      .stop()
      .then(() => relayClient?.close())
      .then(() => kubelet?.close())
      .then(() => serviceProxy?.stop())
      .then(() => healthChecks?.stop())
      .then(() => policies?.stop())
      .then(() => ingressProxy?.close())
      .then(() => network.close?.())
      .finally(() => api.close());
  };
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      stop(signal);
      void stopping?.then(resolve);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  try {
    await agent.start();
  } catch (e) {
    log.error('node agent failed to start', { error: errorMessage(e) });
    stop('start failure');
    await stopping;
    throw e;
  }
  await stopped;
}

/** Longest single wait of the rotation loop (timers this long stay accurate; the clock may jump). */
const ROTATION_CHECK_MS = 3600_000;
const ROTATION_RETRY_MS = 600_000;

/**
 * Renews the kubelet endpoint's serving certificate once renewalTime(cert) has come, then waits
 * for the new one's; a failed renewal is retried every 10 minutes (the old certificate serves
 * meanwhile).
 */
function rotateServingCertificate(p: { o: AgentCliOptions; nodeName: string; dir: string; token: () => string; cert: string; kubelet: KubeletServer; log: Logger }): { stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let cert = p.cert;
  const schedule = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => void tick(), Math.max(0, Math.min(ms, ROTATION_CHECK_MS)));
    timer.unref();
  };
  const tick = async () => {
    const due = renewalTime(cert).getTime();
    if (Date.now() < due) return schedule(due - Date.now());
    try {
      const renewed = await renewServingCertificate({ server: p.o.server, token: p.token(), nodeName: p.nodeName, dir: p.dir, ...(p.o.caFile ? { caFile: p.o.caFile } : {}), insecureSkipTlsVerify: p.o.insecureSkipTlsVerify ?? false });
      p.kubelet.setServingCertificate(renewed.servingKey, renewed.servingCert);
      cert = renewed.servingCert;
      p.log.info('serving certificate renewed', { renewAt: renewalTime(cert).toISOString() });
      schedule(renewalTime(cert).getTime() - Date.now());
    } catch (e) {
      p.log.warn('renewing the serving certificate failed: retrying in 10 minutes', { error: errorMessage(e) });
      schedule(ROTATION_RETRY_MS);
    }
  };
  schedule(0);
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/**
 * Renews the node's API credential at tokenRenewalTime (80% of its life; at once when its expiry is
 * unknown), keeps it (identity.ts) and hands it to `renewed`, then waits for the new one's. A failed
 * renewal is retried after tokenRetryDelay (the current token works meanwhile, until it expires).
 */
function rotateNodeToken(p: { o: AgentCliOptions; nodeName: string; dir: string; token: string; expiry: TokenExpiry | undefined; log: Logger; renewed: (token: string) => void }): { stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let token = p.token;
  let expiry = p.expiry;
  const schedule = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => void tick(), Math.max(0, Math.min(ms, ROTATION_CHECK_MS)));
    timer.unref();
  };
  const tick = async () => {
    const due = tokenRenewalTime(expiry);
    if (Date.now() < due) return schedule(due - Date.now());
    try {
      const fresh = await renewNodeToken({
        server: p.o.server,
        token,
        nodeName: p.nodeName,
        dir: p.dir,
        ...(p.o.caFile ? { caFile: p.o.caFile } : {}),
        insecureSkipTlsVerify: p.o.insecureSkipTlsVerify ?? false,
        ...(p.o.tokenLifetimeSeconds ? { tokenLifetimeSeconds: p.o.tokenLifetimeSeconds } : {}),
      });
      if (stopped) return;
      token = fresh.token;
      expiry = fresh.tokenExpiry;
      p.renewed(token);
      p.log.info('node credential renewed', { expiresAt: expiry.expiresAt, renewAt: new Date(tokenRenewalTime(expiry)).toISOString() });
      schedule(tokenRenewalTime(expiry) - Date.now());
    } catch (e) {
      const retry = tokenRetryDelay(expiry);
      p.log.warn('renewing the node credential failed: retrying', { error: errorMessage(e), retryInMs: Math.round(retry) });
      schedule(retry);
    }
  };
  schedule(0);
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/**
 * The node's identity: the one kept under the root dir, else a new one from joining with the
 * join token. A kept identity whose token the API no longer knows (a reset stack) is replaced by
 * joining again when a join token is at hand. Undefined when neither exists (--token only).
 */
async function nodeIdentity(o: AgentCliOptions, nodeName: string, rootDir: string, log: Logger): Promise<NodeIdentity | undefined> {
  const dir = identityDir(rootDir);
  const kept = await readIdentity(dir);
  const tls = { ...(o.caFile ? { caFile: o.caFile } : {}), insecureSkipTlsVerify: o.insecureSkipTlsVerify ?? false };
  const lifetime = o.tokenLifetimeSeconds ? { tokenLifetimeSeconds: o.tokenLifetimeSeconds } : {};
  if (kept && o.joinToken) {
    const probe = new KubeApiClient({ server: o.server, token: kept.token, ...tls });
    try {
      await probe.request('GET', `/api/v1/nodes/${encodeURIComponent(nodeName)}`, z.unknown());
    } catch (e) {
      if (e instanceof KubeApiError && e.code === 401) {
        log.warn('the kept node identity is no longer known to the API: joining again', { dir });
        return joinCluster({ server: o.server, joinToken: o.joinToken, nodeName, dir, ...tls, ...lifetime });
      }
    } finally {
      probe.close();
    }
  }
  if (kept) {
    log.info('using the kept node identity', { dir });
    return kept;
  }
  if (!o.joinToken) return undefined;
  log.info('joining the cluster with the join token', { dir });
  return joinCluster({ server: o.server, joinToken: o.joinToken, nodeName, dir, ...tls, ...lifetime });
}

/** Parses `agent ...` (argv without node and script) and runs it. */
export async function runAgentCli(argv: readonly string[]): Promise<void> {
  const program = new Command()
    .name('stratus')
    .description('Stratus, a Kubernetes-compatible control plane that runs serverless')
    .exitOverride();
  program
    .command('agent')
    .description('run a node agent (the kubelet role) on this host, driving Docker')
    .requiredOption('--server <url>', 'API server URL, may carry a /clusters/{name} path')
    // A token on the command line is visible to every user of the host (ps): prefer the file or env.
    .addOption(new Option('--join-token <token>', 'bootstrap token to join the cluster with (npx stratus cluster join-token NAME); prefer --join-token-file').env('STRATUS_JOIN_TOKEN'))
    .option('--join-token-file <file>', 'file holding the bootstrap (join) token: the agent joins and keeps its own identity under --root-dir/NAME/identity')
    // A token on the command line is visible to every user of the host (ps): prefer the file or env.
    .addOption(new Option('--token <token>', 'a node credential given by hand instead of joining (no kubelet endpoint then)').env('STRATUS_TOKEN'))
    .option('--token-file <file>', 'file holding a node credential given by hand')
    .option('--name <name>', 'node name (default: the host name)')
    .option('--node-name <name>', 'same as --name')
    .option('--tenant <tenant>', 'tenant (default: from a /clusters/{name} server path, else "default")')
    .option('--ca-file <file>', 'PEM file of the CA that signed the API server certificate')
    .option('--insecure-skip-tls-verify', 'do not verify the API server certificate (development only)', false)
    .option('--resync-seconds <n>', 'period of the full resync from the API', positiveInt, 10)
    .option('--max-pods <n>', 'pods this node accepts (capacity.pods)', positiveInt, 110)
    .option('--pause-image <image>', 'image of the pod infra container', 'stratus/pause:1')
    .option('--no-queue', 'do not use the SQS placement queue (resync only)')
    .addOption(new Option('--relay-url <url>', 'relay mode: no listening kubelet port, API calls come over sessions dialled out to this kubelet relay (wss://...)').env('STRATUS_AGENT_RELAY_URL'))
    .option('--kubelet-port <port>', 'port of the kubelet endpoint (logs); 0 picks a free one', port, 0)
    .option('--root-dir <dir>', "where pod volumes live (a subdirectory per node name)", '/var/lib/stratus')
    .option(
      '--allow-privileged',
      'run what the API admitted even when it owns the host: privileged containers, hostNetwork/hostPID/hostIPC, hostPort, capabilities beyond the default set, any hostPath (never on shared nodes)',
      false,
    )
    .option('--host-path-allow <dirs>', 'absolute directories (comma-separated) whose contents pods may mount as hostPath (never the Docker socket, /, /etc, /proc, /sys, /var/run...)', parseDirs)
    .option('--register-with-taints <taints>', 'taints the node registers with: key[=value]:Effect,...', parseTaints)
    .addOption(new Option('--pod-network <name>', 'how pods are networked: docker-bridge (a Docker network of this cluster\'s own on the host, no Services) or node-bridge (the node\'s podCIDR bridge, Service proxy, DNS); both isolate clusters (docs/networking.md)').choices(POD_NETWORKS).default('docker-bridge'))
    .addOption(
      new Option('--docker-bridge-pool <cidr>', "range (/8 to /24) the docker-bridge pod network takes its cluster's /24 from, one per cluster on the host: the first from the cluster name's hash, the next when taken")
        .env('STRATUS_DOCKER_BRIDGE_POOL')
        .default(DEFAULT_DOCKER_BRIDGE_POOL)
        .argParser(dockerBridgePool),
    )
    .option('--cluster-dns <ip>', 'the kube-dns Service ClusterIP pods use as nameserver (default: the 10th address of the service CIDR, 10.96.0.10)')
    .option('--cluster-domain <domain>', 'the cluster DNS domain', 'cluster.local')
    .option('--resolv-conf <file>', "the host resolv.conf: Default-policy pods' resolvers and the cluster DNS's upstreams", '/etc/resolv.conf')
    .option('--ingress-port <port>', 'port of the Ingress proxy (node-bridge pod network only); 0 picks a free one', port, 0)
    .option('--ingress-address <ip>', 'address the Ingress proxy listens on', '0.0.0.0')
    .option('--no-ingress', 'run no Ingress proxy on this node')
    .option('--ingress-tls-port <port>', 'TLS port of the Ingress proxy (HTTPS, HTTP/2; spec.tls certificates); 0 picks a free one', port, 0)
    .option('--ingress-secret-refresh-seconds <n>', 'how often the Ingress proxy reads the Secrets spec.tls names again', positiveInt, 30)
    .option('--health-check-addresses <ips>', "more addresses (comma-separated) the externalTrafficPolicy Local health checks listen on besides the node's bridge gateway (the InternalIP on a host of its own)", (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean))
    .option('--token-lifetime-seconds <n>', "life asked for the node's API credential at join and renewal, renewed at 80% of it (the API allows 10 s to 30 days; default 30 days)", positiveInt)
    .addOption(new Option('--log-level <level>', 'least severe log level written (default: POWERTOOLS_LOG_LEVEL, else info)').choices(LOG_LEVELS))
    .action(async (opts: Omit<AgentCliOptions, 'token' | 'joinToken'> & { token?: string; tokenFile?: string; joinToken?: string; joinTokenFile?: string; nodeName?: string }) => {
      const { tokenFile, token: given, joinTokenFile, joinToken: givenJoin, nodeName, ...rest } = opts;
      const token = tokenFile ? readFileSync(tokenFile, 'utf8').trim() : given;
      const joinToken = joinTokenFile ? readFileSync(joinTokenFile, 'utf8').trim() : givenJoin;
      const name = rest.name ?? nodeName;
      await runAgent({ ...rest, ...(name ? { name } : {}), ...(token ? { token } : {}), ...(joinToken ? { joinToken } : {}) });
    });
  await program.parseAsync([...argv], { from: 'user' });
}

function invokedDirectly(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  runAgentCli(process.argv.slice(2)).then(
    () => process.exit(0),
    (e: unknown) => {
      // commander already printed help/usage errors; exitCode 0 is --help/--version.
      const code = typeof e === 'object' && e !== null && 'exitCode' in e && typeof e.exitCode === 'number' ? e.exitCode : 1;
      if (!(typeof e === 'object' && e !== null && 'code' in e && String(e.code).startsWith('commander.'))) {
        process.stderr.write(`stratus agent: ${errorMessage(e)}\n`);
      }
      process.exit(code);
    },
  );
}
