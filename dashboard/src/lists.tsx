/** Live lists: Pods, and every kind of kinds.ts with its columns and actions. */
import { useState } from 'preact/hooks';
import { useList } from './informer';
import { collectionPath, kindByPlural, withNamespace } from './kinds';
import { age, podReady, podRestarts, podStatus } from './format';
import { Actions } from './actions';
import { DataTable, ErrorLine, useNow } from './ui';

const href = (...parts: string[]) => `#/${parts.map(encodeURIComponent).join('/')}`;

function Filter({ value, onInput, label }: { value: string; onInput: (v: string) => void; label: string }) {
  return <input type="search" class="filter" placeholder="Filter by name" aria-label={label} value={value} onInput={(e) => onInput(e.currentTarget.value)} />;
}

export function PodsList({ namespace }: { namespace: string }) {
  const now = useNow();
  const [filter, setFilter] = useState('');
  const pods = useList(collectionPath('/api/v1', 'pods', namespace));
  const shown = pods.items.filter((p) => p.metadata.name.includes(filter));
  const head = [...(namespace ? [] : ['Namespace']), 'Name', 'Ready', 'Status', 'Restarts', 'Age', 'IP', 'Node'];
  return (
    <>
      <h1>Pods</h1>
      <Filter value={filter} onInput={setFilter} label="Filter pods" />
      <ErrorLine message={pods.error} />
      {!pods.loaded ? (
        <p aria-busy="true">Loading…</p>
      ) : (
        <DataTable
          label="Pods"
          head={head}
          keys={shown.map((p) => p.metadata.uid ?? p.metadata.name)}
          rows={shown.map((p) => [
            ...(namespace ? [] : [p.metadata.namespace ?? '']),
            <a href={href('pods', p.metadata.namespace ?? '', p.metadata.name)}>{p.metadata.name}</a>,
            podReady(p),
            podStatus(p),
            podRestarts(p),
            age(p.metadata.creationTimestamp, now),
            String(p.status?.podIP ?? '<none>'),
            String(p.spec?.nodeName ?? '<none>'),
          ])}
        />
      )}
    </>
  );
}

export function ResourceList({ plural, namespace }: { plural: string; namespace: string }) {
  const now = useNow();
  const [filter, setFilter] = useState('');
  const kind = kindByPlural(plural);
  const list = useList(kind ? collectionPath(kind.groupVersion, kind.plural, kind.namespaced ? namespace : '') : undefined);
  if (!kind) return <p role="alert">Unknown kind {plural}.</p>;
  const columns = withNamespace(kind, !namespace);
  const shown = list.items.filter((o) => o.metadata.name.includes(filter));
  if (kind.sort) shown.sort(kind.sort);
  const withActions = !kind.readOnly && !['configmaps', 'secrets', 'services'].includes(kind.plural);
  return (
    <>
      <h1>{kind.title}</h1>
      <Filter value={filter} onInput={setFilter} label={`Filter ${kind.title}`} />
      <ErrorLine message={list.error} />
      {!list.loaded ? (
        <p aria-busy="true">Loading…</p>
      ) : (
        <DataTable
          label={kind.title}
          keys={shown.map((o) => o.metadata.uid ?? o.metadata.name)}
          head={[...(columns[0]?.name === 'Namespace' ? ['Namespace'] : []), 'Name', ...columns.filter((c) => c.name !== 'Namespace').map((c) => c.name), ...(withActions ? ['Actions'] : [])]}
          rows={shown.map((o) => [
            ...(columns[0]?.name === 'Namespace' ? [o.metadata.namespace ?? ''] : []),
            <a href={href('r', kind.plural, o.metadata.namespace ?? '', o.metadata.name)}>{o.metadata.name}</a>,
            ...columns.filter((c) => c.name !== 'Namespace').map((c) => c.value(o, now)),
            ...(withActions ? [<Actions key={o.metadata.uid} kind={kind} obj={o} />] : []),
          ])}
        />
      )}
    </>
  );
}
