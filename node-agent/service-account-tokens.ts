/**
 * The kubelet's token manager (pkg/kubelet/token): service account tokens for the pods of this
 * node, asked of the API with TokenRequest bound to the pod (node credentials may ask for no
 * other: NodeRestriction), kept per pod, ServiceAccount, audience and lifetime, and asked again
 * once 80% of a token's life has passed (or it has less than REFRESH_FLOOR_MS left). The
 * projected volume's sync (volumes.ts) writes what `token` returns, so a refreshed token reaches
 * the running containers through the atomic writer.
 */
import { z } from 'zod';
import type { KubeApiClient } from './api-client';

export interface TokenPod {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly serviceAccountName: string;
}

export interface TokenSource {
  serviceAccountToken(pod: TokenPod, audience: string | undefined, expirationSeconds: number): Promise<string>;
}

export const isTokenSource = (c: unknown): c is TokenSource => typeof (c as Partial<TokenSource>).serviceAccountToken === 'function';

const TokenRequestReply = z.looseObject({
  status: z.looseObject({ token: z.string(), expirationTimestamp: z.string() }),
});

interface Held {
  readonly token: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

const REFRESH_FLOOR_MS = 60_000;

/** Whether a held token should be asked for again at `now`: past 80% of its life, or nearly expired. */
export function needsRefresh(h: { issuedAt: number; expiresAt: number }, now: number): boolean {
  const life = h.expiresAt - h.issuedAt;
  return now >= h.issuedAt + life * 0.8 || now >= h.expiresAt - REFRESH_FLOOR_MS;
}

export class TokenManager implements TokenSource {
  private readonly held = new Map<string, Held>();

  constructor(
    private readonly api: Pick<KubeApiClient, 'post'>,
    private readonly now: () => number = Date.now,
  ) {}

  async serviceAccountToken(pod: TokenPod, audience: string | undefined, expirationSeconds: number): Promise<string> {
    const key = [pod.uid, pod.serviceAccountName, audience ?? '', expirationSeconds].join('|');
    const now = this.now();
    const h = this.held.get(key);
    if (h && !needsRefresh(h, now)) return h.token;
    const body = {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: {
        ...(audience ? { audiences: [audience] } : {}),
        expirationSeconds,
        boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.name, uid: pod.uid },
      },
    };
    const path = `/api/v1/namespaces/${encodeURIComponent(pod.namespace)}/serviceaccounts/${encodeURIComponent(pod.serviceAccountName)}/token`;
    const reply = await this.api.post(path, body, TokenRequestReply);
    this.sweep(now);
    this.held.set(key, { token: reply.status.token, issuedAt: now, expiresAt: Date.parse(reply.status.expirationTimestamp) });
    return reply.status.token;
  }

  /** Forgets expired tokens (their pods are gone or they were refreshed). */
  private sweep(now: number): void {
    for (const [k, h] of this.held) if (h.expiresAt <= now) this.held.delete(k);
  }
}
