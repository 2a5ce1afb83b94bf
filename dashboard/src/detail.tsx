/** Detail views: a pod (containers, events, logs that follow, YAML) and any other object (YAML, edit, data). */
import { dump } from 'js-yaml';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, readLines, request, type KubeObject } from './api';
import { useList } from './informer';
import { collectionPath, kindByPlural, objectPath, type Kind } from './kinds';
import { age, podReady, podRestarts, podStatus } from './format';
import { Actions, POD_KIND } from './actions';
import { DataTable, ErrorLine, useNow } from './ui';
import { isTransient, retryDelayMs } from './retry';

const enc = encodeURIComponent;
const MAX_LOG_LINES = 5000;

function Tabs({ base, tabs, current }: { base: string; tabs: [string, string][]; current: string }) {
  return (
    <div role="tablist" aria-label="Views of this object">
      {tabs.map(([id, label]) => (
        <a role="tab" id={`tab-${id}`} key={id} href={`${base}/${id}`} aria-selected={current === id} aria-controls={`panel-${id}`}>
          {label}
        </a>
      ))}
    </div>
  );
}

/** The object itself, live: a watch on its collection narrowed to its name. */
function useObject(collection: string | undefined, name: string): { obj?: KubeObject; error?: string; loaded: boolean } {
  const l = useList(collection || undefined, `fieldSelector=${enc(`metadata.name=${name}`)}`);
  return { obj: l.items[0], error: l.error, loaded: l.loaded };
}

function EventsTable({ namespace, kind, name }: { namespace: string; kind: string; name: string }) {
  const now = useNow();
  const events = useList(`/api/v1/namespaces/${enc(namespace)}/events`, `fieldSelector=${enc(`involvedObject.kind=${kind},involvedObject.name=${name}`)}`);
  const rows = [...events.items].sort((a, b) => String(a.lastTimestamp ?? a.metadata.creationTimestamp).localeCompare(String(b.lastTimestamp ?? b.metadata.creationTimestamp)));
  return (
    <>
      <ErrorLine message={events.error} />
      <DataTable
        label="Events"
        empty="No events."
        head={['Type', 'Reason', 'Age', 'From', 'Message']}
        rows={rows.map((e) => [String(e.type ?? ''), String(e.reason ?? ''), age((e.lastTimestamp as string | undefined) ?? e.metadata.creationTimestamp, now), String((e.source as { component?: string } | undefined)?.component ?? ''), String(e.message ?? '')])}
      />
    </>
  );
}

/** Failed follows in a row (without a line read between them) before the error is shown. */
const LOG_RETRIES = 5;

/** Logs of one container, following (the log subresource with follow=true, streamed). */
function Logs({ namespace, pod, containers }: { namespace: string; pod: string; containers: string[] }) {
  const [chosen, setChosen] = useState('');
  // The pod may arrive after this view (a live list): until a container is chosen, follow its first.
  const container = chosen && containers.includes(chosen) ? chosen : (containers[0] ?? '');
  const [follow, setFollow] = useState(true);
  const [lines, setLines] = useState<string[]>([]);
  const [error, setError] = useState<string | undefined>();
  const [state, setState] = useState('');
  const pre = useRef<HTMLPreElement>(null);
  useEffect(() => {
    if (!container) return;
    const abort = new AbortController();
    let buf: string[] = [];
    let failures = 0;
    let retry: ReturnType<typeof setTimeout> | undefined;
    setLines([]);
    setError(undefined);
    setState(follow ? 'Following…' : '');
    const q = `container=${enc(container)}&tailLines=1000${follow ? '&follow=true' : ''}`;
    // A follow that fails on the way (the connection dropped, the API busy or briefly unavailable)
    // opens again after 1 s, 2 s, 4 s... up to LOG_RETRIES times in a row, from the same tail
    // (what it shows is replaced, not repeated); anything else is shown.
    const open = () =>
      request('GET', `/api/v1/namespaces/${enc(namespace)}/pods/${enc(pod)}/log?${q}`, { signal: abort.signal, accept: '*/*' })
        .then((res) => {
          buf = [];
          setError(undefined);
          setState(follow ? 'Following…' : '');
          return readLines(res, (line) => {
            failures = 0;
            buf = [...buf, line].slice(-MAX_LOG_LINES);
            setLines(buf);
          });
        })
        .then(() => setState(follow ? 'The log stream ended (the container stopped).' : ''))
        .catch((e: Error) => {
          if (abort.signal.aborted) return;
          if (follow && isTransient(e) && failures < LOG_RETRIES) {
            failures++;
            setState(`Reconnecting… (${e.message})`);
            retry = setTimeout(() => void open(), retryDelayMs(failures, 8000));
            return;
          }
          setError(e.message);
        });
    void open();
    return () => {
      abort.abort();
      clearTimeout(retry);
    };
  }, [namespace, pod, container, follow]);
  useEffect(() => {
    const el = pre.current;
    if (el && follow) el.scrollTop = el.scrollHeight;
  }, [lines, follow]);
  return (
    <>
      <div class="toolbar">
        <label>
          Container{' '}
          <select value={container} onChange={(e) => setChosen(e.currentTarget.value)}>
            {containers.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </label>
        <label>
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.currentTarget.checked)} /> Follow
        </label>
        <span role="status">{state}</span>
      </div>
      <ErrorLine message={error} />
      <pre ref={pre} class="logs" role="log" aria-label={`Logs of ${container}`} tabIndex={0}>
        {lines.join('\n')}
      </pre>
    </>
  );
}

const SECRET_MASK = '••••••••';

/** Object YAML, with a Secret's values masked until asked; an editor that PUTs the YAML. */
function Yaml({ kind, obj }: { kind: Kind; obj: KubeObject }) {
  const [editing, setEditing] = useState<string | undefined>();
  const [reveal, setReveal] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const [saved, setSaved] = useState(false);
  const { managedFields: _m, ...meta } = obj.metadata as KubeObject['metadata'] & { managedFields?: unknown };
  const shown: KubeObject = { ...obj, metadata: meta };
  const secret = kind.kind === 'Secret';
  const masked = secret && !reveal ? { ...shown, data: Object.fromEntries(Object.keys((obj.data as object | undefined) ?? {}).map((k) => [k, SECRET_MASK])) } : shown;
  const save = async () => {
    setError(undefined);
    setSaved(false);
    try {
      await request('PUT', objectPath(kind.groupVersion, kind.plural, obj.metadata.namespace, obj.metadata.name), { body: editing, contentType: 'application/yaml' });
      setEditing(undefined);
      setSaved(true);
    } catch (e) {
      if (e instanceof ApiError && e.code === 409)
        setError(`Conflict: the object changed since you opened the editor (409). Your edit was not applied; cancel and edit the current version. The API said: ${e.message}`);
      else setError((e as Error).message);
    }
  };
  if (editing !== undefined)
    return (
      <>
        <label for="yaml-edit">Edit YAML</label>
        <textarea id="yaml-edit" class="yaml" spellcheck={false} value={editing} onInput={(e) => setEditing(e.currentTarget.value)} />
        <div class="toolbar">
          <button type="button" onClick={() => void save()}>
            Save
          </button>
          <button type="button" onClick={() => (setEditing(undefined), setError(undefined))}>
            Cancel
          </button>
        </div>
        <ErrorLine message={error} />
      </>
    );
  return (
    <>
      <div class="toolbar">
        <button type="button" onClick={() => setEditing(dump(shown, { noRefs: true, lineWidth: -1 }))}>
          Edit
        </button>
        {secret && (
          <button type="button" aria-pressed={reveal} onClick={() => setReveal(!reveal)}>
            {reveal ? 'Hide values' : 'Reveal values'}
          </button>
        )}
        {saved && <span role="status">Saved.</span>}
      </div>
      <pre class="yaml" aria-label="YAML" tabIndex={0}>
        {dump(masked, { noRefs: true, lineWidth: -1 })}
      </pre>
    </>
  );
}

/** ConfigMap and Secret data, each value hidden until its Show button is pressed. */
function DataValues({ obj, secret }: { obj: KubeObject; secret: boolean }) {
  const [shown, setShown] = useState<Set<string>>(new Set());
  const data = (obj.data as Record<string, string> | undefined) ?? {};
  const decode = (v: string) => {
    if (!secret) return v;
    try {
      return new TextDecoder().decode(Uint8Array.from(atob(v), (c) => c.charCodeAt(0)));
    } catch {
      return v;
    }
  };
  const toggle = (k: string) => {
    const s = new Set(shown);
    if (s.has(k)) s.delete(k);
    else s.add(k);
    setShown(s);
  };
  return (
    <DataTable
      label="Data"
      empty="No data."
      head={['Key', 'Value', '']}
      keys={Object.keys(data)}
      rows={Object.entries(data).map(([k, v]) => [
        k,
        <code>{shown.has(k) ? decode(v) : SECRET_MASK}</code>,
        <button type="button" aria-pressed={shown.has(k)} aria-label={`${shown.has(k) ? 'Hide' : 'Show'} ${k}`} onClick={() => toggle(k)}>
          {shown.has(k) ? 'Hide' : 'Show'}
        </button>,
      ])}
    />
  );
}

export function PodDetail({ namespace, name, tab }: { namespace: string; name: string; tab: string }) {
  const now = useNow();
  const { obj: pod, error, loaded } = useObject(`/api/v1/namespaces/${enc(namespace)}/pods`, name);
  const base = `#/pods/${enc(namespace)}/${enc(name)}`;
  const tabs: [string, string][] = [
    ['containers', 'Containers'],
    ['events', 'Events'],
    ['logs', 'Logs'],
    ['yaml', 'YAML'],
  ];
  const containers = ((pod?.spec?.containers as { name: string; image: string }[] | undefined) ?? []).map((c) => c.name);
  const statuses = new Map(((pod?.status?.containerStatuses as { name: string; ready?: boolean; restartCount?: number; state?: Record<string, unknown> }[] | undefined) ?? []).map((s) => [s.name, s]));
  return (
    <>
      <h1>
        Pod {name} <small>in {namespace}</small>
      </h1>
      <ErrorLine message={error} />
      {loaded && !pod && <p role="alert">Pod {name} not found (deleted?).</p>}
      {pod && (
        <>
          <dl class="summary">
            <dt>Status</dt>
            <dd>{podStatus(pod)}</dd>
            <dt>Ready</dt>
            <dd>{podReady(pod)}</dd>
            <dt>Restarts</dt>
            <dd>{podRestarts(pod)}</dd>
            <dt>Node</dt>
            <dd>{String(pod.spec?.nodeName ?? '<none>')}</dd>
            <dt>IP</dt>
            <dd>{String(pod.status?.podIP ?? '<none>')}</dd>
            <dt>Age</dt>
            <dd>{age(pod.metadata.creationTimestamp, now)}</dd>
          </dl>
          <Actions kind={POD_KIND} obj={pod} onDeleted={() => (location.hash = '#/pods')} />
          <Tabs base={base} tabs={tabs} current={tab} />
          <section role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
            {tab === 'containers' && (
              <DataTable
                label="Containers"
                head={['Name', 'Image', 'Ready', 'Restarts', 'State']}
                rows={((pod.spec?.containers as { name: string; image: string }[] | undefined) ?? []).map((c) => {
                  const s = statuses.get(c.name);
                  return [c.name, c.image, String(s?.ready ?? false), s?.restartCount ?? 0, Object.keys(s?.state ?? {})[0] ?? 'waiting'];
                })}
              />
            )}
            {tab === 'events' && <EventsTable namespace={namespace} kind="Pod" name={name} />}
            {tab === 'logs' && <Logs namespace={namespace} pod={name} containers={containers} />}
            {tab === 'yaml' && <Yaml kind={POD_KIND} obj={pod} />}
          </section>
        </>
      )}
    </>
  );
}

export function ResourceDetail({ plural, namespace, name }: { plural: string; namespace: string; name: string }) {
  const kind = kindByPlural(plural);
  const { obj, error, loaded } = useObject(kind ? collectionPath(kind.groupVersion, kind.plural, namespace) : '', name);
  if (!kind) return <p role="alert">Unknown kind {plural}.</p>;
  const hasData = kind.kind === 'ConfigMap' || kind.kind === 'Secret';
  return (
    <>
      <h1>
        {kind.kind} {name} {namespace && <small>in {namespace}</small>}
      </h1>
      <ErrorLine message={error} />
      {loaded && !obj && !error && <p role="alert">{kind.kind} {name} not found (deleted?).</p>}
      {obj && (
        <>
          <Actions kind={kind} obj={obj} onDeleted={() => (location.hash = `#/r/${kind.plural}`)} />
          {hasData && (
            <section aria-labelledby="data-h">
              <h2 id="data-h">Data</h2>
              <DataValues obj={obj} secret={kind.kind === 'Secret'} />
            </section>
          )}
          <section aria-labelledby="events-h">
            <h2 id="events-h">Events</h2>
            {namespace && <EventsTable namespace={namespace} kind={kind.kind} name={name} />}
          </section>
          <section aria-labelledby="yaml-h">
            <h2 id="yaml-h">YAML</h2>
            <Yaml kind={kind} obj={obj} />
          </section>
        </>
      )}
    </>
  );
}
