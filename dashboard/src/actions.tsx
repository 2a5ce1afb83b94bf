/**
 * Actions on an object, through the API with the signed-in token (so RBAC decides; a 403's
 * message is shown as the API wrote it): scale (the scale subresource), restart (as
 * `kubectl rollout restart`: the pod template annotation kubectl.kubernetes.io/restartedAt),
 * delete after a confirmation.
 */
import { useState } from 'preact/hooks';
import { request, sendJson, type KubeObject } from './api';
import { objectPath, type Kind } from './kinds';
import { Confirm, ErrorLine } from './ui';

export function Actions({ kind, obj, onDeleted }: { kind: Kind; obj: KubeObject; onDeleted?: () => void }) {
  const [error, setError] = useState<string | undefined>();
  const [done, setDone] = useState<string | undefined>();
  const [confirming, setConfirming] = useState(false);
  const [replicas, setReplicas] = useState(String(obj.spec?.replicas ?? 1));
  const { name, namespace } = obj.metadata;
  const path = objectPath(kind.groupVersion, kind.plural, namespace, name);
  const label = `${kind.kind} ${name}`;
  const act = async (what: string, f: () => Promise<unknown>) => {
    setError(undefined);
    setDone(undefined);
    try {
      await f();
      setDone(what);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const scale = (e: Event) => {
    e.preventDefault();
    void act(`Scaled to ${replicas}`, () => sendJson('PATCH', `${path}/scale`, { spec: { replicas: Number(replicas) } }, 'application/merge-patch+json'));
  };
  const restart = () =>
    act('Restarted', () =>
      sendJson('PATCH', path, { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } } } } }, 'application/strategic-merge-patch+json'),
    );
  const remove = () => {
    setConfirming(false);
    void act('Deleted', async () => {
      await request('DELETE', path, { body: JSON.stringify({ kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' }) });
      onDeleted?.();
    });
  };
  return (
    <div class="actions" role="group" aria-label={`Actions for ${label}`}>
      {kind.scalable && (
        <form class="inline" onSubmit={scale} aria-label={`Scale ${label}`}>
          <label>
            Replicas{' '}
            <input type="number" min="0" value={replicas} onInput={(e) => setReplicas(e.currentTarget.value)} aria-label={`Replicas of ${name}`} />
          </label>
          <button type="submit">Scale</button>
        </form>
      )}
      {kind.restartable && (
        <button type="button" onClick={() => void restart()} aria-label={`Restart ${label}`}>
          Restart
        </button>
      )}
      <button type="button" class="danger" onClick={() => setConfirming(true)} aria-label={`Delete ${label}`}>
        Delete
      </button>
      {confirming && (
        <Confirm title={`Delete ${label}?`} confirmLabel="Delete" onConfirm={remove} onCancel={() => setConfirming(false)}>
          <p>
            {kind.kind} <strong>{name}</strong>
            {namespace ? ` in namespace ${namespace}` : ''} will be deleted{kind.scalable || kind.restartable ? ', with its pods' : ''}.
          </p>
        </Confirm>
      )}
      <ErrorLine message={error} />
      {done && (
        <span role="status" class="done">
          {done}
        </span>
      )}
    </div>
  );
}

export const POD_KIND: Kind = { plural: 'pods', title: 'Pods', kind: 'Pod', groupVersion: '/api/v1', namespaced: true, columns: [] };
