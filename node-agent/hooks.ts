/**
 * Container lifecycle hooks (postStart, preStop), as the kubelet runs them
 * (pkg/kubelet/lifecycle/handlers.go): exec in the container, an HTTP GET to the pod, or sleep.
 *
 * postStart runs right after the container started; until it returns the container is not
 * "started", and when it fails the container is killed (and restarted as restartPolicy says).
 * preStop runs before the stop signal, within the termination grace period: what it uses is
 * taken from the grace left for SIGTERM, which keeps at least 2 s (the kubelet's minimum).
 *
 * The preStop handler travels in a container label (as the kubelet's
 * io.kubernetes.container.preStopHandler), so a container whose pod object is already gone
 * (force delete, agent restart) still gets its hook.
 */
import { z } from 'zod';
import { runProbe, type Probe } from './prober';
import type { ContainerCommander } from './runtime';
import type { Container } from './types';
import { sleep } from '../shared/sleep';

const IntOrString = z.union([z.number().int(), z.string()]);

export const LifecycleHandlerSchema = z.looseObject({
  exec: z.looseObject({ command: z.array(z.string()).min(1) }).optional(),
  httpGet: z
    .looseObject({
      path: z.string().optional(),
      port: IntOrString,
      host: z.string().optional(),
      scheme: z.enum(['HTTP', 'HTTPS']).optional(),
      httpHeaders: z.array(z.looseObject({ name: z.string(), value: z.string() })).optional(),
    })
    .optional(),
  sleep: z.looseObject({ seconds: z.number().int().min(0) }).optional(),
  tcpSocket: z.unknown().optional(),
});
export type LifecycleHandler = z.infer<typeof LifecycleHandlerSchema>;

const LifecycleSchema = z.looseObject({ postStart: LifecycleHandlerSchema.optional(), preStop: LifecycleHandlerSchema.optional() });

/** The container's hooks, parsed; a malformed lifecycle counts as none (the API validated it). */
export function lifecycleOf(container: Container): { postStart?: LifecycleHandler; preStop?: LifecycleHandler } {
  const parsed = LifecycleSchema.safeParse(container.lifecycle ?? {});
  return parsed.success ? parsed.data : {};
}

/** The kubelet never lets the stop signal have less than this after a preStop hook. */
export const MINIMUM_GRACE_SECONDS = 2;

/** Seconds left for SIGTERM after a preStop hook that took `hookMs` of `graceSeconds`. Pure. */
export function graceAfterHook(graceSeconds: number, hookMs: number): number {
  return Math.max(MINIMUM_GRACE_SECONDS, Math.floor(graceSeconds - hookMs / 1000));
}

export interface HookTarget {
  readonly containerID: string;
  readonly container: Container;
  readonly podIP?: string;
  /** "name_namespace(uid)", as the kubelet names the pod in hook messages. */
  readonly podDescription: string;
}

export type HookOutcome = { readonly ok: true } | { readonly ok: false; readonly message: string };

/**
 * Runs one hook handler until it finishes or `timeoutMs` passes; never throws. Messages are the
 * kubelet's: "Exec lifecycle hook ([cmd]) for Container ... failed - error: ..., message: ...".
 */
export async function runHook(handler: LifecycleHandler, target: HookTarget, commander: ContainerCommander, timeoutMs: number, signal?: AbortSignal): Promise<HookOutcome> {
  const who = `for Container "${target.container.name}" in Pod "${target.podDescription}"`;
  if (handler.sleep) {
    await sleep(Math.min(handler.sleep.seconds * 1000, timeoutMs), signal);
    return { ok: true };
  }
  const timeoutSeconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  if (handler.exec) {
    const probe: Probe = { exec: handler.exec, timeoutSeconds };
    const r = await runProbe(probe, { containerID: target.containerID, container: target.container, ...(target.podIP ? { podIP: target.podIP } : {}) }, commander);
    if (r.result === 'success') return { ok: true };
    const cmd = handler.exec.command.join(' ');
    return { ok: false, message: `Exec lifecycle hook ([${cmd}]) ${who} failed - error: command '${cmd}' exited with a failure, message: ${JSON.stringify(r.output)}` };
  }
  if (handler.httpGet) {
    const probe: Probe = { httpGet: handler.httpGet, timeoutSeconds };
    const r = await runProbe(probe, { containerID: target.containerID, container: target.container, ...(target.podIP ? { podIP: target.podIP } : {}) }, commander);
    if (r.result === 'success') return { ok: true };
    return { ok: false, message: `HTTP lifecycle hook (${handler.httpGet.path ?? '/'}) ${who} failed - error: ${r.output}` };
  }
  return { ok: false, message: `Lifecycle hook ${who} has no supported handler (exec, httpGet, sleep)` };
}
