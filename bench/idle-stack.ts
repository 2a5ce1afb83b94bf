/**
 * What the local stack costs with no request at all (BENCHMARKS.md "Slow GET tail"; run by hand:
 * `npx tsx bench/idle-stack.ts`): starts it in this process, waits 5 s, then over 20 s reports this
 * process's CPU (the runtime, the stream pollers), DynamoDB Local's JVM CPU (its /proc stat) and
 * the AWS SDK calls made per second by kind (observed by wrapping the clients' shared send()).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execSync } from 'node:child_process';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { startLocalStack } from '../infra/local/stack';
const counts = new Map<string, number>();
const base = Object.getPrototypeOf(DynamoDBClient.prototype);
const orig = base.send;
base.send = function (this: any, cmd: any, ...rest: any[]) { const k = `${this.constructor.name}.${cmd.constructor.name}`; counts.set(k, (counts.get(k) ?? 0) + 1); return orig.call(this, cmd, ...rest); };
const javaTicks = () => { let t = 0; for (const pid of execSync('pgrep -P ' + process.pid + ' java || true').toString().split('\n').filter(Boolean)) { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' '); t += Number(f[11]) + Number(f[12]); } return t * 10; };
async function main() {
  const stack = await startLocalStack({ stateDir: mkdtempSync(join(tmpdir(), 'slowget-idle-')) });
  try {
    await new Promise((r) => setTimeout(r, 5000));
    counts.clear();
    const c0 = process.cpuUsage(); const j0 = javaTicks(); const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 20000));
    const c = process.cpuUsage(c0); const j = javaTicks() - j0; const s = (Date.now() - t0) / 1000;
    console.log(`idle stack over ${s.toFixed(1)} s: node ${((c.user + c.system) / 1000 / s).toFixed(0)} ms CPU/s, java ${(j / s).toFixed(0)} ms CPU/s`);
    for (const [k, n] of [...counts].sort((a, b) => b[1] - a[1])) console.log(`  ${k}: ${(n / s).toFixed(1)}/s`);
  } finally { await stack.stop(); }
}
main().catch((e) => { console.error(e); process.exit(1); });
