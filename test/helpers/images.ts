import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/**
 * Local images the tests run; no registry is reachable, so they are built from the host's busybox
 * (and, for `node`, the host's node binary with its shared libraries and the in-cluster client
 * fixture at /opt/stratus/in-cluster-client.cjs).
 */
export const TEST_IMAGES = {
  busybox: 'stratus-test/busybox:1.36',
  pause: 'stratus/pause:1',
  node: 'stratus-test/node:20',
} as const;

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function imageExists(tag: string): boolean {
  try {
    execFileSync('docker', ['image', 'inspect', tag], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Ensures the test images exist. Idempotent: does nothing when every tag is present; otherwise
 * runs scripts/build-test-images.sh (the one place that knows how the root file system is made).
 */
export function ensureTestImages(): void {
  if (Object.values(TEST_IMAGES).every(imageExists)) return;
  const script = join(repoRoot, 'scripts', 'build-test-images.sh');
  if (!existsSync(script)) throw new Error(`test images missing and ${script} not found`);
  execFileSync('bash', [script], { stdio: ['ignore', 'inherit', 'inherit'] });
}
