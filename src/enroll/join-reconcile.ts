// The fleet reconciliation and the Node listing: every Node (listed page by page) matched to the
// machine that accounts for it. A pass also catches up what the watch may have missed (a join
// while the watcher was down, labels a refused patch left owed) and, with quarantine on, taints
// Nodes nobody accounts for and untaints them once someone does. Runtime-agnostic.
import type { NodeObject } from '../cluster/index.ts';
import { AppError } from '../errors.ts';
import type { MachineView } from '../store/ports.ts';
import { handleNode, isUnattestedTainted as isTainted, setUnattestedTaint, type JoinDeps } from './join.ts';
import { METHOD_NODE_LABEL } from './join-state.ts';

export interface NodeListing {
  readonly name: string;
  readonly uid: string;
  readonly machineId: string | null;
  readonly attested: boolean;
  readonly quarantined: boolean;
  readonly createdAt: string | null;
}

export interface ReconcileSummary {
  readonly nodes: number;
  readonly accounted: number;
  readonly unaccounted: number;
  /** Joins recorded by this pass (the watch had not seen them). */
  readonly joined: number;
  /** Joined Nodes whose attested labels were missing or stale, fixed now. */
  readonly labelled: number;
  readonly quarantined: number;
  readonly released: number;
  readonly errors: number;
  readonly unaccountedNodes: readonly string[];
}

const MACHINE_PAGE = 1000;

async function allMachines(deps: Pick<JoinDeps, 'index'>): Promise<Map<string, MachineView>> {
  const out = new Map<string, MachineView>();
  let after: string | undefined;
  for (;;) {
    const page = await deps.index.list({ limit: MACHINE_PAGE, ...(after ? { after } : {}) });
    for (const v of page) out.set(v.id, v);
    if (page.length < MACHINE_PAGE) return out;
    after = page[page.length - 1]!.id;
  }
}

/** Which machine accounts for this Node: the one whose recorded join names its uid (not revoked). */
function accountFor(node: NodeObject, byUid: ReadonlyMap<string, MachineView>): MachineView | null {
  return byUid.get(node.metadata.uid) ?? null;
}

function indexByUid(machines: ReadonlyMap<string, MachineView>): Map<string, MachineView> {
  const m = new Map<string, MachineView>();
  for (const v of machines.values()) if (v.node && v.revokedAt === null) m.set(v.node.uid, v);
  return m;
}

export async function listNodes(deps: Pick<JoinDeps, 'index' | 'cluster'>): Promise<NodeListing[]> {
  const [{ items }, machines] = await Promise.all([deps.cluster.nodes.listAll(), allMachines(deps)]);
  const byUid = indexByUid(machines);
  return items.map((n) => {
    const m = accountFor(n, byUid);
    return {
      name: n.metadata.name,
      uid: n.metadata.uid,
      machineId: m?.id ?? null,
      attested: m !== null && n.metadata.labels?.[METHOD_NODE_LABEL] !== undefined,
      quarantined: isTainted(n),
      createdAt: n.metadata.creationTimestamp ?? null,
    };
  });
}

export async function reconcileNodes(deps: JoinDeps, options: { quarantine: boolean }): Promise<ReconcileSummary> {
  const { items } = await deps.cluster.nodes.listAll();
  const machines = await allMachines(deps);
  let byUid = indexByUid(machines);
  let joined = 0;
  let labelled = 0;
  let quarantined = 0;
  let released = 0;
  let errors = 0;
  let accounted = 0;
  const unaccountedNodes: string[] = [];
  for (const node of items) {
    const sameName = machines.get(node.metadata.name);
    let taintedNow = false;
    // A Node named after a machine that awaits its join, or the machine's own Node (labels owed?).
    if (sameName && sameName.revokedAt === null && (sameName.state === 'enrolled' || sameName.node?.uid === node.metadata.uid)) {
      try {
        const r = await handleNode(node, { ...deps, quarantine: options.quarantine });
        taintedNow = r.quarantined === true;
        if (r.joined) joined++;
        if (r.labelled) labelled++;
        if (r.retry) errors++;
        if (r.joined) {
          const v = await deps.machines.get(sameName.id);
          if (v) {
            machines.set(v.id, v);
            byUid = indexByUid(machines);
          }
        }
      } catch (err) {
        errors++;
        if (!(err instanceof AppError)) throw err;
      }
    }
    const owner = accountFor(node, byUid);
    const tainted = isTainted(node) || taintedNow;
    if (taintedNow) quarantined++;
    if (owner) accounted++;
    else unaccountedNodes.push(node.metadata.name);
    try {
      if (!owner && options.quarantine && !tainted) {
        await setUnattestedTaint(deps, node, true, 'reconcile');
        quarantined++;
      } else if (owner && tainted) {
        await setUnattestedTaint(deps, node, false, 'reconcile');
        released++;
      }
    } catch (err) {
      errors++;
      if (!(err instanceof AppError)) throw err;
    }
  }
  const summary = { nodes: items.length, accounted, unaccounted: items.length - accounted, joined, labelled, quarantined, released, errors, unaccountedNodes };
  return summary;
}
