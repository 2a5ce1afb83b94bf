/**
 * The Stratus dashboard: sign in with a bearer token, then views of the cluster the page is
 * served under, live through watches (informer.ts). Routes live in the URL's fragment
 * (#/pods/NS/NAME), never the token.
 */
import './style.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { apiBase, clearToken, getJson, getToken, setToken, setUnauthorizedHandler, ApiError, type KubeList } from './api';
import { stopAll } from './informer';
import { KINDS } from './kinds';
import { Overview } from './overview';
import { PodsList, ResourceList } from './lists';
import { PodDetail, ResourceDetail } from './detail';
import { CostView } from './cost';
import { withRetries } from './retry';

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

/** Sign-in reads discovery up to this many times (over about 7 s) when the failure is transient. */
const SIGN_IN_ATTEMPTS = 4;

function SignIn({ onSignedIn, message }: { onSignedIn: () => void; message?: string }) {
  const [token, setValue] = useState('');
  const [error, setError] = useState(message ?? '');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    setToken(token.trim());
    try {
      // Discovery answers every authenticated user: a wrong token gets 401 here. A reset
      // connection or a busy API (429, 5xx) is tried again for a few seconds before it is shown.
      await withRetries(() => getJson('/api'), SIGN_IN_ATTEMPTS);
      onSignedIn();
    } catch (err) {
      clearToken();
      setError(err instanceof ApiError && err.code === 401 ? 'The token was not accepted (401 Unauthorized).' : String((err as Error).message));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <h1>Stratus</h1>
      <p>
        Cluster <strong>{clusterName()}</strong>. Sign in with a bearer token (as in your kubeconfig's <code>user.token</code>); it is kept in this tab only.
      </p>
      <form onSubmit={(e) => void submit(e)} aria-label="Sign in">
        <label for="token">Token</label>
        <input id="token" type="password" autocomplete="off" value={token} onInput={(e) => setValue(e.currentTarget.value)} required />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
    </main>
  );
}

const clusterName = () => (apiBase ? decodeURIComponent(apiBase.slice('/clusters/'.length)) : 'default');

function NamespaceSelect({ value, onChange }: { value: string; onChange: (ns: string) => void }) {
  const [names, setNames] = useState<string[]>([]);
  useEffect(() => {
    // Listed once (not watched: the watch slots are for the views).
    getJson<KubeList>('/api/v1/namespaces')
      .then((l) => setNames(l.items.map((n) => n.metadata.name)))
      .catch(() => setNames([]));
  }, []);
  return (
    <label class="ns">
      Namespace{' '}
      <select aria-label="Namespace" value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        <option value="">All namespaces</option>
        {[...new Set([...names, ...(value ? [value] : [])])].sort().map((n) => (
          <option value={n} key={n}>
            {n}
          </option>
        ))}
      </select>
    </label>
  );
}

function Nav({ current }: { current: string }) {
  const links: [string, string][] = [
    ['#/', 'Overview'],
    ['#/pods', 'Pods'],
    ...KINDS.map((k): [string, string] => [`#/r/${k.plural}`, k.title]),
    ['#/cost', 'Cost'],
  ];
  return (
    <nav aria-label="Main">
      <ul>
        {links.map(([href, label]) => (
          <li key={href}>
            <a href={href} aria-current={current === href ? 'page' : undefined}>
              {label}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

function App() {
  const [signedIn, setSignedIn] = useState(!!getToken());
  const [expired, setExpired] = useState<string | undefined>();
  const [namespace, setNs] = useState(sessionStorage.getItem('stratus.namespace') ?? '');
  const hash = useHash();
  useEffect(() => {
    setUnauthorizedHandler(() => {
      stopAll();
      clearToken();
      setExpired('The API answered 401 Unauthorized: sign in again.');
      setSignedIn(false);
    });
  }, []);
  if (!signedIn) return <SignIn message={expired} onSignedIn={() => setSignedIn(true)} />;
  const setNamespace = (ns: string) => {
    sessionStorage.setItem('stratus.namespace', ns);
    setNs(ns);
  };
  const signOut = () => {
    stopAll();
    clearToken();
    setExpired(undefined);
    setSignedIn(false);
  };
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  let view;
  let current = '#/';
  if (parts[0] === 'pods' && parts.length >= 3) {
    current = '#/pods';
    view = <PodDetail key={hash} namespace={parts[1]!} name={parts[2]!} tab={parts[3] ?? 'containers'} />;
  } else if (parts[0] === 'pods') {
    current = '#/pods';
    view = <PodsList namespace={namespace} />;
  } else if (parts[0] === 'r' && parts[1]) {
    current = `#/r/${parts[1]}`;
    view = parts.length >= 4 ? <ResourceDetail key={hash} plural={parts[1]} namespace={parts[2]!} name={parts[3]!} /> : <ResourceList key={parts[1]} plural={parts[1]} namespace={namespace} />;
  } else if (parts[0] === 'cost') {
    current = '#/cost';
    view = <CostView namespace={namespace} />;
  } else {
    view = <Overview namespace={namespace} />;
  }
  return (
    <>
      <header>
        <span class="brand">Stratus · {clusterName()}</span>
        <NamespaceSelect value={namespace} onChange={setNamespace} />
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <div class="layout">
        <Nav current={current} />
        <main>{view}</main>
      </div>
    </>
  );
}

render(<App />, document.getElementById('app')!);
