/**
 * DynamoDB Local (AWS's own engine, shipped as a jar by amplify-dynamodb-simulator) as a child
 * process of the local stack: in memory (a fresh database each start) or, with `dbPath`, in a
 * data directory that survives restarts.
 *
 * It listens on 127.0.0.1 only. DynamoDB Local 1.25 has no flag for the address and binds every
 * interface, which would let any pod on the host's Docker bridge read and write every cluster's
 * objects; so it is started through our own launcher (java/StratusDynamoDBLocal.java, compiled
 * once with javac into .stratus/java/<hash of the source>/), which sets its Jetty connector's
 * host to 127.0.0.1 before the server opens its socket.
 *
 * Without -sharedDb, DynamoDB Local keeps one database per access key and region: every client
 * of the local stack must therefore sign with the same credentials (see LOCAL_CREDENTIALS).
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { sleep } from '../../shared/sleep';

/** The one identity every local-stack client uses, so all see the same DynamoDB Local database. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;
export const LOCAL_REGION = 'us-east-1';

export interface DynamoDBLocal {
  /** http://127.0.0.1:PORT */
  readonly endpoint: string;
  readonly port: number;
  /** The Java process's id (tests check what it listens on). */
  readonly pid: number;
  /** Stops the Java process (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 60_000;

/** Directory holding DynamoDBLocal.jar, resolved from this module (not from process.cwd()). */
export function dynamoDBLocalDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('amplify-dynamodb-simulator/package.json')), 'emulator');
}

const LAUNCHER_CLASS = 'StratusDynamoDBLocal';
const LAUNCHER_SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'java', `${LAUNCHER_CLASS}.java`);
const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Compiles the 127.0.0.1 launcher (once per version of its source) and returns the directory
 * holding its class. Concurrent callers are safe: each compiles into its own temp directory and
 * renames it into place; the loser's rename fails and its copy is dropped.
 */
export async function dynamoDBLauncherDir(buildRoot = join(REPO_ROOT, '.stratus', 'java')): Promise<string> {
  const source = readFileSync(LAUNCHER_SOURCE);
  const jarDir = dynamoDBLocalDir();
  const hash = createHash('sha256').update(source).update(jarDir).digest('hex').slice(0, 16);
  const dir = join(buildRoot, hash);
  if (existsSync(join(dir, `${LAUNCHER_CLASS}.class`))) return dir;
  await mkdir(buildRoot, { recursive: true });
  const tmp = await mkdtemp(join(buildRoot, 'build-'));
  try {
    await promisify(execFile)(
      'javac',
      ['-nowarn', '-d', tmp, '-cp', `${join(jarDir, 'DynamoDBLocal.jar')}:${join(jarDir, 'DynamoDBLocal_lib', '*')}`, LAUNCHER_SOURCE],
      { timeout: 120_000 },
    );
    await rename(tmp, dir).catch(async (err: NodeJS.ErrnoException) => {
      if (!existsSync(join(dir, `${LAUNCHER_CLASS}.class`))) throw err;
    });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`could not compile the DynamoDB Local launcher (javac 17 needed): ${e.stderr || e.message}`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return dir;
}

/** A port that was free a moment ago on 127.0.0.1 (bind to 0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolvePort(port) : reject(new Error('could not pick a free port'))));
    });
  });
}

/**
 * C1 only by default: DynamoDB Local starts in about half the time, which is what tests need.
 * STRATUS_DYNAMODB_JIT=full keeps the JVM's default tiered compilation (C2 too): slower to
 * start, faster once hot — what benchmarks that drive it for minutes should use.
 */
function jitFlags(): string[] {
  return process.env.STRATUS_DYNAMODB_JIT === 'full' ? [] : ['-XX:TieredStopAtLevel=1'];
}


/**
 * Starts DynamoDB Local on a free port of 127.0.0.1 (and only there) and resolves once ListTables
 * answers: in memory, or in `dbPath` (created if missing) when given. Rejects (after killing the
 * process) if Java exits early or it is not ready within 60 s; the error carries Java's stderr.
 */
export async function startDynamoDBLocal(
  opts: { port?: number; dbPath?: string; log?: (s: string) => void } = {},
): Promise<DynamoDBLocal> {
  const log = opts.log ?? (() => {});
  const [port, launcher] = await Promise.all([opts.port ?? freePort(), dynamoDBLauncherDir()]);
  const cwd = dynamoDBLocalDir();
  if (opts.dbPath) await mkdir(opts.dbPath, { recursive: true, mode: 0o700 });
  const child = spawn(
    'java',
    [
      ...jitFlags(),
      '-Djava.library.path=DynamoDBLocal_lib',
      '-cp',
      `${launcher}:DynamoDBLocal.jar`,
      LAUNCHER_CLASS,
      ...(opts.dbPath ? ['-dbPath', opts.dbPath] : ['-inMemory']),
      '-port',
      String(port),
      '-disableTelemetry',
    ],
    { cwd, stdio: ['ignore', 'pipe', 'pipe'] },
  );

  let stderr = '';
  let stdout = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-8_000);
  });
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    stdout = (stdout + d).slice(-8_000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  );
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void exited.then((info) => (exitInfo = info));
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));

  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
    requestHandler: { requestTimeout: 2_000, connectionTimeout: 1_000 },
  });

  const stop = async () => {
    if (exitInfo || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(killer);
  };

  const started = Date.now();
  try {
    for (;;) {
      if (spawnError) throw new Error(`could not start java for DynamoDB Local: ${spawnError.message}`);
      if (exitInfo) {
        throw new Error(
          `DynamoDB Local exited during startup (code ${exitInfo.code}, signal ${exitInfo.signal}):\n${stderr || stdout}`,
        );
      }
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        break;
      } catch {
        // Not listening yet.
      }
      if (Date.now() - started > STARTUP_TIMEOUT_MS) {
        throw new Error(`DynamoDB Local did not answer on ${endpoint} within 60 s:\n${stderr || stdout}`);
      }
      await sleep(150);
    }
  } catch (err) {
    client.destroy();
    await stop();
    throw err;
  }
  client.destroy();
  log(`DynamoDB Local ready on ${endpoint} (${Date.now() - started} ms)`);
  // Say so if it dies under us later: every request would fail with ECONNREFUSED otherwise.
  let stopping = false;
  void exited.then((info) => {
    if (!stopping) log(`DynamoDB Local exited unexpectedly (code ${info.code}, signal ${info.signal}):\n${stderr}`);
  });
  return {
    endpoint,
    port,
    pid: child.pid ?? 0,
    stop: async () => {
      stopping = true;
      await stop();
    },
  };
}
