/**
 * NetworkPolicy enforcement for the node-bridge pod network: keeps the node's table
 * `ip stratus-0a8005-pol` (policy-rules.ts has its layout) in line with the cluster view, as the
 * service proxy keeps its own (service-proxy.ts): the first snapshot replaces the table whole in
 * ONE `nft -f` transaction (a restarted agent adopts it with no moment without rules), later ones
 * go as diffs, one transaction each, to a long-running `nft -i`; a failed transaction makes the
 * next apply a rebuild. The table stays when the agent stops: isolation holds while it is away.
 */
import { errorMessage, type Logger } from '../log';
import type { ClusterSnapshot, ClusterView } from './cluster-view';
import { NftInteractive, type NftRunner } from './service-proxy';
import { buildPolicyRuleset, diffPolicyRulesets, fullPolicyScript, policyTableScript, type PolicyNode, type PolicyRuleset } from './policy-rules';

export interface NetworkPolicyOptions {
  readonly view: ClusterView;
  /** The node's bridge and DNS address: read at the first apply (the bridge exists by then). */
  readonly node: () => PolicyNode;
  readonly log: Logger;
  /** @default a long-running nft -i */
  readonly nft?: NftRunner;
}

export class NetworkPolicyEnforcer {
  private readonly nft: NftRunner;
  private applied: PolicyRuleset | undefined;
  private table: string | undefined;
  private staticHash: string | undefined;
  private pending: ClusterSnapshot | undefined;
  private running: Promise<void> | undefined;
  private unsubscribe: (() => void) | undefined;
  private stopped = false;

  constructor(private readonly opts: NetworkPolicyOptions) {
    this.nft = opts.nft ?? new NftInteractive();
  }

  start(): Promise<void> {
    this.unsubscribe = this.opts.view.subscribe((s) => void this.update(s));
    return this.update(this.opts.view.current());
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.nft.close();
  }

  update(snapshot: ClusterSnapshot): Promise<void> {
    if (snapshot.version === '') return Promise.resolve();
    this.pending = snapshot;
    this.running ??= (async () => {
      while (this.pending && !this.stopped) {
        const s = this.pending;
        this.pending = undefined;
        try {
          await this.apply(s);
        } catch (e) {
          this.applied = undefined;
          this.opts.log.warn('network policy rules not applied', { version: s.version, error: errorMessage(e) });
        }
      }
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async apply(snapshot: ClusterSnapshot): Promise<void> {
    const node = this.opts.node();
    const stat = policyTableScript(node.bridge);
    const next = buildPolicyRuleset(snapshot, node);
    if (!this.applied || this.staticHash !== stat.hash || this.table !== stat.name) {
      const commands = fullPolicyScript(stat.name, next);
      await this.nft.script([`add table ip ${stat.name}`, `delete table ip ${stat.name}`, `table ip ${stat.name} {`, `  comment "${stat.hash}"`, stat.body, `}`, ...commands, ''].join('\n'));
      this.table = stat.name;
      this.staticHash = stat.hash;
      this.applied = next;
      this.opts.log.info('network policy table written', { table: stat.name, version: snapshot.version, policies: snapshot.networkPolicies?.length ?? 0 });
      return;
    }
    const commands = diffPolicyRulesets(stat.name, this.applied, next);
    await this.nft.transaction(commands);
    this.applied = next;
    if (commands.length) this.opts.log.info('network policy rules changed', { table: stat.name, version: snapshot.version, commands: commands.length });
  }
}

/** Removes a node's policy table (tests; a node gone for good). */
export async function destroyPolicyTable(table: string): Promise<void> {
  const runner = new NftInteractive();
  await runner.script(`add table ip ${table}\ndelete table ip ${table}\n`).catch(() => undefined);
  runner.close();
}
