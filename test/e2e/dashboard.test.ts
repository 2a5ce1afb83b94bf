import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createToken } from '../../shared/auth/tokens';
import { loadConfig } from '../../shared/config';
import { createDocumentClient } from '../../shared/store/dynamo';
import { Api, eventually, uniqueName } from '../helpers/api';
import { TEST_IMAGES } from '../helpers/images';
import { allRunning, createPod, waitForPod } from '../helpers/pods';

/*
 * Issue #17, the web dashboard in a real browser: playwright-core driving Debian's chromium
 * (scripts/ensure-chromium.sh installs it) against the local stack. The page is served by the api
 * function and talks to the normal API with the signed-in token, so what it shows and may do is
 * what RBAC allows that token.
 */

/** The README's screenshots, rewritten only when asked (STRATUS_SCREENSHOTS=1), so a test run leaves the checkout clean. */
async function screenshot(page: { screenshot(o: { path: string }): Promise<unknown> }, file: string): Promise<void> {
  if (process.env.STRATUS_SCREENSHOTS === '1') await page.screenshot({ path: join(repoRoot, 'docs', file) });
}

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHROMIUM = process.env.STRATUS_CHROMIUM ?? '/usr/bin/chromium';
const IMAGE = TEST_IMAGES.busybox;
/** An idle page must make no request but its open watches for this long. */
const IDLE_MS = 60_000;

let stack: ReturnType<typeof inject<'stack'>>;
let api: Api;
let browser: Browser;
let ns: string;
let nsPath: string;
let dashboardUrl: string;

/** A page that records its requests and console messages. */
interface Tracked {
  context: BrowserContext;
  page: Page;
  requests: string[];
  console: string[];
}

async function openPage(): Promise<Tracked> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const t: Tracked = { context, page, requests: [], console: [] };
  page.on('request', (r) => t.requests.push(`${r.method()} ${r.url()}`));
  page.on('console', (m) => t.console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => t.console.push(`pageerror: ${e.message}`));
  return t;
}

/**
 * page.goto, again when chromium aborts the navigation because the host's network changed: when an
 * interface comes or goes (other test files create and remove node bridges meanwhile) it fails the
 * navigation with net::ERR_NETWORK_CHANGED, shows its error page, or navigates to the same URL
 * again by itself (its retry after a network change); each of these interrupts it.
 */
async function open(page: Tracked['page'], url: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await page.goto(url);
      return;
    } catch (e) {
      const text = String(e);
      if (attempt < 5 && text.includes(`interrupted by another navigation to "${url}"`)) {
        // Chromium is loading the same URL again by itself: that navigation is the one to wait for
        // (another goto may be interrupted the same way, as happened five times in a row once).
        const loaded = await page.waitForURL(url, { waitUntil: 'load', timeout: 30_000 }).then(
          () => true,
          () => false,
        );
        if (loaded) return;
        continue;
      }
      const networkChanged = /ERR_NETWORK_CHANGED|interrupted by another navigation to "chrome-error:/.test(text);
      if (attempt >= 5 || !networkChanged) throw e;
    }
  }
}

async function signIn(t: Tracked, token: string): Promise<void> {
  await open(t.page, dashboardUrl);
  await t.page.getByLabel('Token').fill(token);
  await t.page.getByRole('button', { name: 'Sign in' }).click();
  // Signed in, or the sign-in page's error (whose words then fail the test, not a timeout)
  const overview = t.page.getByRole('heading', { name: 'Overview' });
  await overview.or(t.page.getByRole('alert')).first().waitFor();
  if (!(await overview.isVisible())) expect.fail(`sign-in failed: ${await t.page.getByRole('alert').textContent()}`);
  await t.page.getByRole('combobox', { name: 'Namespace' }).selectOption(ns);
}

const cspViolations = (t: Tracked) => t.console.filter((m) => /Content Security Policy|Refused to (load|execute|apply|connect|evaluate)/i.test(m));

async function createDeployment(name: string, replicas: number): Promise<void> {
  const r = await api.post(`/apis/apps/v1/namespaces/${ns}/deployments`, {
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'] }] },
      },
    },
  });
  expect(r.status, r.text).toBe(201);
}

beforeAll(async () => {
  stack = inject('stack');
  api = Api.forTenant('default');
  dashboardUrl = `${stack.apiUrl}/clusters/default/dashboard/`;
  ns = uniqueName('dash');
  nsPath = `/api/v1/namespaces/${ns}`;
  const r = await api.post('/api/v1/namespaces', { metadata: { name: ns } });
  expect(r.status, r.text).toBe(201);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
});

afterAll(async () => {
  await browser?.close();
  await api?.send('DELETE', `/api/v1/namespaces/${ns}`);
});

describe('dashboard: serving', () => {
  it('serves index.html and hashed assets without authentication, with a strict CSP, content types and caching', async () => {
    // Prepare
    const anon = new Api(`${stack.apiUrl}/clusters/default`, undefined, stack.caCert);
    // Act
    const index = await anon.get('/dashboard/');
    const asset = /src="\.\/assets\/([^"]+\.js)"/.exec(index.text)?.[1];
    const css = /href="\.\/assets\/([^"]+\.css)"/.exec(index.text)?.[1];
    const js = await anon.get(`/dashboard/assets/${asset}`);
    const style = await anon.get(`/dashboard/assets/${css}`);
    const missing = await anon.get('/dashboard/assets/nothing-ABC.js');
    const traversal = await anon.get('/dashboard/assets/..%2f..%2fpackage.json');
    const post = await anon.post('/dashboard/', {});
    const bare = await anon.get('/dashboard');
    const data = await anon.get('/api/v1/namespaces');
    // Assess
    expect(index.status).toBe(200);
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(index.headers['cache-control']).toBe('no-cache');
    const csp = String(index.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(index.text).not.toMatch(/<script>|<script [^>]*>[^<]/); // no inline script
    expect(asset).toMatch(/^main-[A-Z0-9]+\.js$/);
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(js.headers['content-security-policy']).toBe(csp);
    expect(style.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(missing.status).toBe(404);
    expect(traversal.status).toBe(404);
    expect(traversal.text).not.toContain('"name": "stratus"');
    expect(post.status).toBe(405);
    expect([bare.status, bare.headers.location]).toEqual([301, '/clusters/default/dashboard/']);
    expect(data.status).toBe(401); // the API itself still needs a token
  });

  it('`stratus dashboard --url` prints the address for the current context of a kubeconfig', async () => {
    // Act
    const { stdout } = await promisify(execFile)(process.execPath, [join(repoRoot, 'bin', 'stratus.mjs'), 'dashboard', '--url', '--kubeconfig', stack.kubeconfigPath]);
    // Assess
    expect(stdout.trim()).toBe(dashboardUrl);
  });
});

describe('dashboard in chromium', { timeout: 180_000 }, () => {
  let admin: Tracked;

  beforeAll(async () => {
    admin = await openPage();
  });
  afterAll(async () => {
    await admin?.context.close();
  });

  it('signs in with a token kept in sessionStorage only, and shows the overview with the node', async () => {
    // Act
    await signIn(admin, stack.adminToken);
    // Assess
    const nodes = admin.page.getByRole('table', { name: 'Nodes' });
    await expect.poll(() => nodes.textContent(), { timeout: 20_000 }).toContain(stack.nodeName);
    expect(await admin.page.evaluate('sessionStorage.getItem("stratus.token")')).toBe(stack.adminToken);
    expect(await admin.page.evaluate('localStorage.length')).toBe(0);
    expect(admin.requests.filter((r) => r.includes(stack.adminToken))).toEqual([]);
    expect(admin.page.url()).not.toContain(stack.adminToken);
    await admin.page.getByRole('list', { name: 'Pods by phase' }).waitFor();
  });

  it('finds a pod, and a pod created through the API appears live without a reload', async () => {
    // Prepare
    const first = uniqueName('first');
    await createPod(api, nsPath, first, [{ name: 'main', image: IMAGE, command: ['sleep', '3600'] }]);
    await admin.page.getByRole('link', { name: 'Pods', exact: true }).click();
    const table = admin.page.getByRole('table', { name: 'Pods' });
    await admin.page.getByRole('link', { name: first }).waitFor();
    const navigations: string[] = [];
    admin.page.on('framenavigated', (f) => navigations.push(f.url()));
    // Act
    const live = uniqueName('live');
    await createPod(api, nsPath, live, [{ name: 'main', image: IMAGE, command: ['sleep', '3600'] }]);
    // Assess
    await admin.page.getByRole('link', { name: live }).waitFor({ timeout: 15_000 });
    await expect.poll(async () => (await table.getByRole('row').filter({ hasText: live }).textContent()) ?? '', { timeout: 60_000 }).toContain('Running');
    await admin.page.getByLabel('Filter pods').fill(live);
    await expect.poll(() => table.getByRole('row').count()).toBe(2); // header and the one pod
    expect(navigations.filter((u) => !u.includes('#'))).toEqual([]);
    await admin.page.getByLabel('Filter pods').fill('');
  });

  it("follows a pod's logs: a line written after opening the Logs tab appears", async () => {
    // Prepare
    const name = uniqueName('ticker');
    await createPod(api, nsPath, name, [{ name: 'main', image: IMAGE, command: ['sh', '-c', 'i=0; while true; do echo tick-$i; i=$((i+1)); sleep 1; done'] }]);
    await waitForPod(api, nsPath, name, 'running', allRunning);
    await admin.page.getByRole('link', { name: 'Pods', exact: true }).click();
    await admin.page.getByRole('link', { name }).click();
    // Act
    await admin.page.getByRole('tab', { name: 'Logs' }).click();
    const log = admin.page.getByRole('log');
    // (On failure, what the view said: its status line and error.)
    await expect
      .poll(() => log.textContent(), { timeout: 20_000 })
      .toMatch(/tick-\d+/)
      .catch(async (e: Error) => {
        const said = await admin.page.locator('main').getByRole('status').first().textContent().catch(() => '?');
        const alert = await admin.page.locator('main').getByRole('alert').allTextContents().catch(() => []);
        throw new Error(`${e.message}; the view's status: ${JSON.stringify(said)}, errors: ${JSON.stringify(alert)}`);
      });
    const seen = Math.max(...[...(await log.textContent())!.matchAll(/tick-(\d+)/g)].map((m) => Number(m[1])));
    // Assess
    await expect.poll(() => log.textContent(), { timeout: 20_000 }).toContain(`tick-${seen + 2}`);
    expect(await admin.page.getByRole('tab', { name: 'Logs' }).getAttribute('aria-selected')).toBe('true');
    expect(admin.requests.some((r) => r.includes(`/pods/${name}/log?`) && r.includes('follow=true'))).toBe(true);
    await screenshot(admin.page, 'dashboard-logs.png');
  });

  it('scales a Deployment and sees the replicas change; restart patches the template annotation', async () => {
    // Prepare
    const name = uniqueName('web');
    await createDeployment(name, 1);
    await admin.page.getByRole('link', { name: 'Deployments' }).click();
    const row = admin.page.getByRole('table', { name: 'Deployments' }).getByRole('row').filter({ hasText: name });
    await expect.poll(() => row.textContent(), { timeout: 60_000 }).toContain('1/1');
    // Act
    await admin.page.getByLabel(`Replicas of ${name}`).fill('2');
    await row.getByRole('button', { name: 'Scale', exact: true }).click();
    // Assess
    await expect.poll(() => row.textContent(), { timeout: 20_000 }).toMatch(/[0-2]\/2/);
    await expect.poll(() => row.textContent(), { timeout: 90_000 }).toContain('2/2');
    expect((await api.get(`/apis/apps/v1/namespaces/${ns}/deployments/${name}`)).body.spec.replicas).toBe(2);
    // Act: restart
    await admin.page.getByRole('button', { name: `Restart Deployment ${name}` }).click();
    // Assess
    const restartedAt = await eventually(async () => {
      const d = (await api.get(`/apis/apps/v1/namespaces/${ns}/deployments/${name}`)).body;
      return d.spec.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'] as string | undefined;
    }, 10_000, 'restartedAt annotation');
    expect(Date.parse(restartedAt)).toBeGreaterThan(Date.now() - 120_000);
    await screenshot(admin.page, 'dashboard-deployments.png');
  });

  it('deletes a Deployment after a confirmation', async () => {
    // Prepare
    const name = uniqueName('gone');
    await createDeployment(name, 0);
    const link = admin.page.getByRole('link', { name });
    await link.waitFor();
    // Act
    await admin.page.getByRole('button', { name: `Delete Deployment ${name}` }).click();
    const dialog = admin.page.getByRole('alertdialog', { name: `Delete Deployment ${name}?` });
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    const afterCancel = (await api.get(`/apis/apps/v1/namespaces/${ns}/deployments/${name}`)).status;
    await admin.page.getByRole('button', { name: `Delete Deployment ${name}` }).click();
    await dialog.getByRole('button', { name: 'Delete' }).click();
    // Assess
    expect(afterCancel).toBe(200);
    await link.waitFor({ state: 'detached', timeout: 20_000 });
    await eventually(async () => ((await api.get(`/apis/apps/v1/namespaces/${ns}/deployments/${name}`)).status === 404 ? true : undefined), 20_000, 'deployment gone');
  });

  it('an idle page makes no request but its open watches (at most 3), and violates no CSP rule', async () => {
    // Prepare
    await admin.page.getByRole('link', { name: 'Overview' }).click();
    await admin.page.getByRole('heading', { name: 'Recent Warning events' }).waitFor();
    await admin.page.waitForTimeout(2000); // the view's lists and watches start
    const before = admin.requests.length;
    // Act
    await admin.page.waitForTimeout(IDLE_MS);
    // Assess
    const idle = admin.requests.slice(before);
    expect(idle.filter((r) => !r.includes('watch=1'))).toEqual([]);
    expect(idle.length).toBeLessThanOrEqual(3);
    expect(cspViolations(admin)).toEqual([]);
    expect(admin.console.filter((m) => m.startsWith('pageerror'))).toEqual([]);
    await screenshot(admin.page, 'dashboard-overview.png');
  });

  it("a view-only token sees the Deployment but its delete shows the API's 403 message", async () => {
    // Prepare
    const name = uniqueName('kept');
    await createDeployment(name, 0);
    const user = uniqueName('viewer');
    const crb = await api.post('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      metadata: { name: user },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
    });
    expect(crb.status, crb.text).toBe(201);
    const token = await createToken(createDocumentClient(loadConfig()), loadConfig(), { tenant: 'default', user, groups: ['system:authenticated'] });
    const viewer = await openPage();
    try {
      await signIn(viewer, token);
      await viewer.page.getByRole('link', { name: 'Deployments' }).click();
      await viewer.page.getByRole('link', { name }).waitFor({ timeout: 20_000 });
      // Act
      await viewer.page.getByRole('button', { name: `Delete Deployment ${name}` }).click();
      await viewer.page.getByRole('alertdialog').getByRole('button', { name: 'Delete' }).click();
      // Assess
      const alert = viewer.page.getByRole('alert').filter({ hasText: 'forbidden' });
      await alert.waitFor();
      expect(await alert.textContent()).toBe(`deployments.apps "${name}" is forbidden: User "${user}" cannot delete resource "deployments" in API group "apps" in the namespace "${ns}"`);
      expect((await api.get(`/apis/apps/v1/namespaces/${ns}/deployments/${name}`)).status).toBe(200);
      expect(cspViolations(viewer)).toEqual([]);
    } finally {
      await viewer.context.close();
      await api.send('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${user}`);
    }
  });

  it('behaves as an informer: a watch that ends is resumed from its version, a 410 Expired lists again', async () => {
    // Prepare: the page's first pod watch ends at once (as a server timeout would), its second
    // answers 410 Expired; later ones reach the API.
    const t = await openPage();
    try {
      let watches = 0;
      await t.page.route(/\/pods\?.*watch=1/, async (route) => {
        watches++;
        if (watches === 1) return route.fulfill({ status: 200, contentType: 'application/json', body: '' });
        if (watches === 2) {
          const expired = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'too old resource version: 1 (2)', reason: 'Expired', code: 410 };
          return route.fulfill({ status: 200, contentType: 'application/json', body: `${JSON.stringify({ type: 'ERROR', object: expired })}\n` });
        }
        return route.continue();
      });
      // Straight to the Pods view (signed in, namespace chosen), so its informer is the only one on pods.
      await t.context.addInitScript(`sessionStorage.setItem('stratus.token', ${JSON.stringify(stack.adminToken)}); sessionStorage.setItem('stratus.namespace', ${JSON.stringify(ns)});`);
      await open(t.page, `${dashboardUrl}#/pods`);
      await t.page.getByRole('table', { name: 'Pods' }).waitFor();
      await expect.poll(() => watches, { timeout: 20_000 }).toBeGreaterThanOrEqual(3);
      // Act
      const name = uniqueName('after-410');
      await createPod(api, nsPath, name, [{ name: 'main', image: IMAGE, command: ['sleep', '3600'] }]);
      // Assess
      await t.page.getByRole('link', { name }).waitFor({ timeout: 15_000 });
      const podRequests = t.requests.filter((r) => r.includes(`/namespaces/${ns}/pods?`) || r.endsWith(`/namespaces/${ns}/pods`));
      const kinds = podRequests.map((r) => (r.includes('watch=1') ? `watch@${/resourceVersion=([^&]*)/.exec(r)?.[1]}` : 'list'));
      // list, watch (ends), watch again from the same version (no list; answered 410), list, watch
      expect(kinds.slice(0, 5).map((k) => k.split('@')[0])).toEqual(['list', 'watch', 'watch', 'list', 'watch']);
      expect(kinds[1]).toBe(kinds[2]);
    } finally {
      await t.context.close();
    }
  });

  it('a YAML edit from a stale version shows the conflict (409) clearly', async () => {
    // Prepare
    const name = uniqueName('cfg');
    const r = await api.post(`${nsPath}/configmaps`, { metadata: { name }, data: { key: 'one' } });
    expect(r.status, r.text).toBe(201);
    await open(admin.page, `${dashboardUrl}#/r/configmaps/${ns}/${name}`);
    await admin.page.getByRole('button', { name: 'Edit' }).click();
    const editor = admin.page.getByLabel('Edit YAML');
    await expect.poll(() => editor.inputValue()).toContain('key: one');
    // Act: someone else changes it, then this edit is saved
    const other = await api.patch(`${nsPath}/configmaps/${name}`, { data: { key: 'two' } });
    expect(other.status, other.text).toBe(200);
    await editor.fill((await editor.inputValue()).replace('key: one', 'key: three'));
    await admin.page.getByRole('button', { name: 'Save' }).click();
    // Assess
    const alert = admin.page.getByRole('alert').filter({ hasText: 'Conflict' });
    await alert.waitFor();
    expect(await alert.textContent()).toContain('(409)');
    expect(await alert.textContent()).toContain('the object has been modified');
    expect((await api.get(`${nsPath}/configmaps/${name}`)).body.data.key).toBe('two');
  });

  it('masks Secret values until asked', async () => {
    // Prepare
    const name = uniqueName('sec');
    const r = await api.post(`${nsPath}/secrets`, { metadata: { name }, stringData: { password: 's3cr3t-value' } });
    expect(r.status, r.text).toBe(201);
    // Act
    await open(admin.page, `${dashboardUrl}#/r/secrets/${ns}/${name}`);
    const data = admin.page.getByRole('table', { name: 'Data' });
    await data.waitFor();
    const masked = await admin.page.locator('main').textContent();
    await admin.page.getByRole('button', { name: 'Show password' }).click();
    // Assess
    expect(masked).not.toContain('s3cr3t-value');
    expect(masked).not.toContain(Buffer.from('s3cr3t-value').toString('base64'));
    await expect.poll(() => data.textContent()).toContain('s3cr3t-value');
  });

  it("shows the Cost view: the cluster's month and hours and a Deployment's own row, reachable by keyboard, read again soon after a failed read and at most once a minute after a good one", async () => {
    // Prepare: a Deployment whose pods the controllers create (work the meter counts for it)
    const name = uniqueName('costly');
    await createDeployment(name, 1);
    await eventually(async () => ((await api.get(`${nsPath}/pods?labelSelector=app%3D${name}`)).body.items.length > 0 ? true : undefined), 30_000, 'its pod');
    // ...and counted: the view reads once and then at most once a minute, so its row must be in
    // the report before the page opens (processes flush their counts up to a minute apart)
    await eventually(async () => {
      const workloads = ((await api.get('/stratus/v1/cost')).body?.month?.workloads ?? []) as { workload?: { kind?: string; namespace?: string; name?: string } }[];
      return workloads.some((w) => w.workload?.kind === 'Deployment' && w.workload.namespace === ns && w.workload.name === name) ? true : undefined;
    }, 100_000, "the Deployment's row in the cost report");
    const t = await openPage();
    // The cost reads in order, each with its answer's status (0: none, e.g. the network changed)
    const costReads: { url: string; status: number }[] = [];
    t.page.on('request', (r) => {
      if (!r.url().includes('/stratus/v1/cost')) return;
      const read = { url: r.url(), status: 0 };
      costReads.push(read);
      void r.response().then((res) => (read.status = res?.status() ?? 0), () => undefined);
    });
    // The first read fails as a lost connection would: the view reads again soon, not a minute later
    let failFirst = true;
    await t.page.route('**/stratus/v1/cost', (route) => {
      if (!failFirst) return route.continue();
      failFirst = false;
      return route.abort('connectionreset');
    });
    try {
      await signIn(t, stack.adminToken);
      // Act: to the Cost view with the keyboard only
      const link = t.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Cost' });
      await link.focus();
      await t.page.keyboard.press('Enter');
      await t.page.getByRole('heading', { name: /Control-plane cost/ }).waitFor();
      // Assess
      const month = t.page.getByRole('table', { name: 'Cost per workload this month' });
      await month.waitFor();
      await expect
        .poll(() => month.getByRole('row').filter({ hasText: `Deployment/${name}` }).count(), { timeout: 20_000 })
        .toBe(1)
        .catch(async (e: Error) => {
          // (On failure, what the view showed and what the API answered meanwhile.)
          const shown = await month.textContent().catch(() => '?');
          const report = await api.get('/stratus/v1/cost');
          const rows = ((report.body?.month?.workloads ?? []) as { workload?: { namespace?: string; name?: string } }[]).filter((w) => w.workload?.namespace === ns).map((w) => w.workload?.name);
          throw new Error(`${e.message}; reads ${JSON.stringify(costReads)}; the view's table: ${JSON.stringify(shown?.slice(0, 500))}; the API's rows in ${ns} now: ${JSON.stringify(rows)}; namespace chosen: ${await t.page.getByRole('combobox', { name: 'Namespace' }).inputValue()}`);
        });
      expect(await link.getAttribute('aria-current')).toBe('page');
      await t.page.getByRole('table', { name: 'Cost per hour' }).waitFor();
      expect(await t.page.getByRole('table', { name: 'Cost per hour' }).getByRole('row').count()).toBe(25);
      expect(await t.page.getByLabel("This month's cost").textContent()).toMatch(/Total\$[0-9.]+/);
      // The failed read, then one successful read and none after it
      await expect.poll(() => costReads.at(-1)?.status).toBe(200);
      expect(costReads[0]?.status).toBe(0);
      expect(costReads.filter((r) => r.status === 200)).toHaveLength(1);
      expect(cspViolations(t)).toEqual([]);
    } finally {
      await t.context.close();
    }
  });

  it('lists Events live, and the Ingresses and EndpointSlices kinds', async () => {
    // Prepare
    await open(admin.page, `${dashboardUrl}#/r/events`);
    const events = admin.page.getByRole('table', { name: 'Events' });
    await events.waitFor();
    const reason = `Probe${Date.now()}`;
    // Act: an Event written through the API after the view opened
    const r = await api.post(`${nsPath}/events`, {
      metadata: { name: uniqueName('ev') },
      involvedObject: { kind: 'Pod', namespace: ns, name: 'somepod' },
      reason,
      message: 'written by the dashboard test',
      type: 'Normal',
      lastTimestamp: new Date().toISOString(),
    });
    expect(r.status, r.text).toBe(201);
    // Assess
    await events.getByRole('row').filter({ hasText: reason }).waitFor({ timeout: 15_000 });
    expect(await events.getByRole('row').filter({ hasText: reason }).textContent()).toContain('pod/somepod');
    for (const [title, plural] of [
      ['Ingresses', 'ingresses'],
      ['EndpointSlices', 'endpointslices'],
    ]) {
      await admin.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: title, exact: true }).click();
      await admin.page.getByRole('table', { name: title }).waitFor();
      expect(admin.page.url()).toContain(`#/r/${plural}`);
    }
  });
});
