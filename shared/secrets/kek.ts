import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFile, mkdir, writeFile, rename, chmod } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/*
 * Key-encryption keys (KEK): what wraps each cluster's data keys (keys.ts). Locally a key file
 * in the state directory (.stratus/secrets-kek.json, mode 0600, made on first use, kept across
 * restarts); on AWS a KMS key (infra/stack.ts), through @aws-sdk/client-kms loaded at run time
 * only when STRATUS_SECRETS_KMS_KEY_ID is set (the package is not a dependency of this repo:
 * the Lambda bundle must provide it). The KMS path has never been run against real KMS.
 */

/** What a data key is bound to when wrapped (KMS: the encryption context; locally: the AAD). */
export interface WrapContext {
  readonly cluster: string;
  readonly keyId: string;
}

export interface KeyEncryptionKey {
  /** Where the KEK lives, for messages (a file path or a KMS key id). */
  readonly description: string;
  /** Wraps a data key under the current KEK; returns the KEK's id with the wrapped bytes. */
  wrap(dataKey: Uint8Array, ctx: WrapContext): Promise<{ kekId: string; wrapped: Uint8Array }>;
  /** The data key wrapped under KEK `kekId` (older KEKs stay usable until everything is re-wrapped). */
  unwrap(wrapped: Uint8Array, kekId: string, ctx: WrapContext): Promise<Buffer>;
  /** Makes a new KEK current and returns its id (locally a new key in the file; KMS: see KmsKek). */
  rotate(): Promise<string>;
  /** The id new wraps use. */
  currentId(): Promise<string>;
}

interface KeyFile {
  current: string;
  keys: Record<string, string>;
}

const ctxAad = (ctx: WrapContext) => Buffer.from(`stratus/dek\0${ctx.cluster}\0${ctx.keyId}`, 'utf8');
const newKekId = () => `kek-${Date.now().toString(16).padStart(12, '0')}${randomBytes(3).toString('hex')}`;

/** The local KEK: AES-256-GCM keys in a 0600 JSON file; the newest is current, older ones unwrap. */
export class FileKek implements KeyEncryptionKey {
  private file?: KeyFile;
  private writing?: Promise<KeyFile>;

  constructor(readonly path: string) {}

  get description() {
    return this.path;
  }

  private async read(): Promise<KeyFile | undefined> {
    try {
      return JSON.parse(await readFile(this.path, 'utf8')) as KeyFile;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** Writes atomically (temp file + rename), mode 0600; never replaces keys it did not read. */
  private async write(f: KeyFile): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(f, null, 2)}\n`, { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, this.path);
  }

  /** The file, made on first use; reread when `kekId` is not in the copy in memory (another process rotated). */
  private async load(kekId?: string): Promise<KeyFile> {
    if (this.file && (kekId === undefined || this.file.keys[kekId])) return this.file;
    const onDisk = await this.read();
    if (onDisk) return (this.file = onDisk);
    this.writing ??= (async () => {
      const id = newKekId();
      const f: KeyFile = { current: id, keys: { [id]: randomBytes(32).toString('base64') } };
      await this.write(f);
      return f;
    })();
    return (this.file = await this.writing);
  }

  async currentId(): Promise<string> {
    return (await this.load()).current;
  }

  async wrap(dataKey: Uint8Array, ctx: WrapContext) {
    const f = await this.load();
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', Buffer.from(f.keys[f.current]!, 'base64'), nonce);
    cipher.setAAD(ctxAad(ctx));
    const wrapped = Buffer.concat([nonce, cipher.update(dataKey), cipher.final(), cipher.getAuthTag()]);
    return { kekId: f.current, wrapped: new Uint8Array(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength) };
  }

  async unwrap(wrapped: Uint8Array, kekId: string, ctx: WrapContext): Promise<Buffer> {
    const f = await this.load(kekId);
    const kek = f.keys[kekId];
    if (!kek) throw new Error(`key-encryption key ${kekId} is not in ${this.path}`);
    const b = Buffer.from(wrapped);
    const decipher = createDecipheriv('aes-256-gcm', Buffer.from(kek, 'base64'), b.subarray(0, 12));
    decipher.setAAD(ctxAad(ctx));
    decipher.setAuthTag(b.subarray(b.length - 16));
    return Buffer.concat([decipher.update(b.subarray(12, b.length - 16)), decipher.final()]);
  }

  async rotate(): Promise<string> {
    const f = (await this.read()) ?? (await this.load());
    const id = newKekId();
    const next: KeyFile = { current: id, keys: { ...f.keys, [id]: randomBytes(32).toString('base64') } };
    await this.write(next);
    this.file = next;
    return id;
  }
}

/** The subset of @aws-sdk/client-kms this uses (the package is loaded at run time, never imported statically). */
interface KmsModule {
  KMSClient: new (cfg: { region?: string }) => { send(cmd: unknown): Promise<Record<string, unknown>> };
  EncryptCommand: new (input: Record<string, unknown>) => unknown;
  DecryptCommand: new (input: Record<string, unknown>) => unknown;
}

/**
 * The KEK on AWS: a KMS symmetric key. A wrap is one kms:Encrypt, an unwrap one kms:Decrypt (only
 * for a data key not cached in the instance: keys.ts), both with the cluster and data key id as
 * the encryption context (logged by CloudTrail, and required to decrypt). KMS rotates the key's
 * material itself (enableKeyRotation in infra/stack.ts), keeping old material for decryption, so
 * `rotate` makes no new key: re-wrapping (rotate-key) re-encrypts every data key under the
 * current material. NEVER RUN AGAINST REAL KMS: written to the documented API only.
 */
export class KmsKek implements KeyEncryptionKey {
  private client?: Promise<{ mod: KmsModule; client: InstanceType<KmsModule['KMSClient']> }>;

  constructor(
    readonly keyId: string,
    private readonly region?: string,
  ) {}

  get description() {
    return `KMS key ${this.keyId}`;
  }

  private kms() {
    this.client ??= (async () => {
      const name = '@aws-sdk/client-kms';
      let mod: KmsModule;
      try {
        mod = (await import(name)) as KmsModule;
      } catch (e) {
        throw new Error(`STRATUS_SECRETS_KMS_KEY_ID is set but ${name} cannot be loaded (${(e as Error).message}): bundle it with the functions`, { cause: e });
      }
      return { mod, client: new mod.KMSClient({ region: this.region }) };
    })();
    return this.client;
  }

  async currentId() {
    return this.keyId;
  }

  async wrap(dataKey: Uint8Array, ctx: WrapContext) {
    const { mod, client } = await this.kms();
    const out = await client.send(new mod.EncryptCommand({ KeyId: this.keyId, Plaintext: dataKey, EncryptionContext: { cluster: ctx.cluster, dataKey: ctx.keyId } }));
    return { kekId: String(out.KeyId ?? this.keyId), wrapped: out.CiphertextBlob as Uint8Array };
  }

  async unwrap(wrapped: Uint8Array, kekId: string, ctx: WrapContext) {
    const { mod, client } = await this.kms();
    const out = await client.send(new mod.DecryptCommand({ KeyId: kekId, CiphertextBlob: wrapped, EncryptionContext: { cluster: ctx.cluster, dataKey: ctx.keyId } }));
    return Buffer.from(out.Plaintext as Uint8Array);
  }

  async rotate(): Promise<string> {
    // KMS keeps one key id across rotations of its material; a re-wrap is what rotate-key does here.
    return this.keyId;
  }
}

/** The KEK this process uses: KMS when STRATUS_SECRETS_KMS_KEY_ID is set, else the local key file. */
export function kekFromEnv(env: NodeJS.ProcessEnv = process.env): KeyEncryptionKey {
  if (env.STRATUS_SECRETS_KMS_KEY_ID) return new KmsKek(env.STRATUS_SECRETS_KMS_KEY_ID, env.AWS_REGION);
  return new FileKek(env.STRATUS_SECRETS_KEK_FILE ?? join(process.cwd(), '.stratus', 'secrets-kek.json'));
}
