/**
 * Benchmark for issue #17, the web dashboard (run by hand: `npx tsx bench/dashboard.ts`; figures
 * in BENCHMARKS.md). On the local stack with one node agent, chromium (playwright-core, headless):
 *  1. first load: BENCH_LOADS (default 10) fresh browser contexts (empty cache) with a signed-in
 *     token open the Pods view of a namespace with 20 pods; time from navigation to the table
 *     showing them (HTML, script, CSS, the list and the watch);
 *  2. live-update latency: BENCH_UPDATES (default 20) pods created through the API while the Pods
 *     view is open; time from sending the create to its row on the page (the API's create, the
 *     change log, the watch stream and the render).
 * Never used as a test assertion.
 */
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { pct, withBenchCluster } from './lib';

const LOADS = Number(process.env.BENCH_LOADS ?? 10);
const UPDATES = Number(process.env.BENCH_UPDATES ?? 20);
const NS = 'bench-dash';
const progress = (s: string) => console.error(s);
const ms = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(0)} ms, p99 ${pct(xs, 99).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms (n=${xs.length})`;

execFileSync(process.execPath, ['scripts/build-dashboard.mjs'], { stdio: 'inherit' });
await withBenchCluster(progress, async ({ stack, api }) => {
  await api('POST', '/api/v1/namespaces', { metadata: { name: NS } });
  const pod = (name: string) => ({ metadata: { name }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: 'stratus-test/busybox:1.36', command: ['sleep', '3600'] }] } });
  for (let i = 0; i < 20; i++) await api('POST', `/api/v1/namespaces/${NS}/pods`, pod(`seed-${i}`));
  const browser = await chromium.launch({ executablePath: process.env.STRATUS_CHROMIUM ?? '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  const url = `${stack.apiUrl}/clusters/default/dashboard/#/pods`;
  // Chromium aborts a navigation with ERR_NETWORK_CHANGED when Docker adds a bridge or veth
  // (pods starting); such a navigation is tried again.
  const goto = async (page: import('playwright-core').Page) => {
    for (let i = 0; ; i++) {
      try {
        return await page.goto(url);
      } catch (err) {
        if (i > 3 || !String(err).includes('ERR_NETWORK_CHANGED')) throw err;
      }
    }
  };
  const newPage = async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    await context.addInitScript(`sessionStorage.setItem('stratus.token', ${JSON.stringify(stack.adminToken)}); sessionStorage.setItem('stratus.namespace', ${JSON.stringify(NS)});`);
    return { context, page: await context.newPage() };
  };
  try {
    progress(`[3/5] first load x${LOADS}`);
    const loads: number[] = [];
    for (let i = 0; i < LOADS; i++) {
      const { context, page } = await newPage();
      const t0 = performance.now();
      await goto(page);
      await page.getByRole('link', { name: 'seed-19' }).waitFor();
      loads.push(performance.now() - t0);
      await context.close();
    }
    progress(`[4/5] live updates x${UPDATES}`);
    const { context, page } = await newPage();
    await goto(page);
    await page.getByRole('link', { name: 'seed-19' }).waitFor();
    const updates: number[] = [];
    for (let i = 0; i < UPDATES; i++) {
      const t0 = performance.now();
      await api('POST', `/api/v1/namespaces/${NS}/pods`, pod(`live-${i}`));
      await page.getByRole('link', { name: `live-${i}`, exact: true }).waitFor();
      updates.push(performance.now() - t0);
    }
    await context.close();
    console.log(`first load (cold cache, Pods view with 20 pods): ${ms(loads)}`);
    console.log(`live update (create sent → row shown): ${ms(updates)}`);
  } finally {
    await browser.close();
    await api('DELETE', `/api/v1/namespaces/${NS}`);
  }
});
