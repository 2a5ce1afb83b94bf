/**
 * NetworkPolicy enforcement for the node-bridge pod network: keeps the node's table
 * `ip stratus-0a8005-pol` (policy-rules.ts has its layout) in line with the cluster view, as the
 * service proxy keeps its own (service-proxy.ts): the first snapshot replaces the table whole in
 * ONE `nft -f` transaction (a restarted agent adopts it with no moment without rules), later ones
 * go as diffs, one transaction each, to a long-running `nft -i`; a failed transaction makes the
 * next apply a rebuild. The table stays when the agent stops: isolation holds while it is away.
 */
import type { Logger } from '../log';
import type { ClusterSnapshot, ClusterView } from './cluster-view';
import { destroyServiceTable, NftTableFollower, replaceTableScript, type NftRunner } from './service-proxy';
import { buildPolicyRuleset, diffPolicyRulesets, fullPolicyScript, policyTableScript, type PolicyNode, type PolicyRuleset } from './policy-rules';

export interface NetworkPolicyOptions {
  readonly view: ClusterView;
  /** The node's bridge and DNS address: read at the first apply (the bridge exists by then). */
  readonly node: () => PolicyNode;
  readonly log: Logger;
  /** @default a long-running nft -i */
  readonly nft?: NftRunner;
}

export class NetworkPolicyEnforcer extends NftTableFollower {
  private applied: PolicyRuleset | undefined;
  private table: string | undefined;
  private staticHash: string | undefined;

  constructor(private readonly opts: NetworkPolicyOptions) {
    super(opts, 'network policy rules not applied');
  }

  /** The snapshot arrays the applied ruleset was built from (the view keeps an unchanged kind's array). */
  private inputs: readonly unknown[] = [];

  protected reset(): void {
    this.applied = undefined;
    this.inputs = [];
  }

  protected async apply(snapshot: ClusterSnapshot): Promise<void> {
    const node = this.opts.node();
    const stat = policyTableScript(node.bridge);
    // Policies read pods, namespaces and policies only: a change of Services alone costs nothing here.
    const inputs = [snapshot.pods, snapshot.networkPolicies, snapshot.namespaces, node.bridge, JSON.stringify(node)];
    if (this.applied && this.staticHash === stat.hash && this.table === stat.name && inputs.every((x, i) => x === this.inputs[i])) return;
    this.inputs = [];
    const next = buildPolicyRuleset(snapshot, node);
    if (!this.applied || this.staticHash !== stat.hash || this.table !== stat.name) {
      const commands = fullPolicyScript(stat.name, next);
      await this.nft.script(replaceTableScript(stat, commands));
      this.table = stat.name;
      this.staticHash = stat.hash;
      this.applied = next;
      this.inputs = inputs;
      this.opts.log.info('network policy table written', { table: stat.name, version: snapshot.version, policies: snapshot.networkPolicies?.length ?? 0 });
      return;
    }
    const commands = diffPolicyRulesets(stat.name, this.applied, next);
    await this.nft.transaction(commands);
    this.applied = next;
    this.inputs = inputs;
    if (commands.length) this.opts.log.info('network policy rules changed', { table: stat.name, version: snapshot.version, commands: commands.length });
  }
}

/** Removes a node's policy table (tests; a node gone for good). */
export { destroyServiceTable as destroyPolicyTable };
