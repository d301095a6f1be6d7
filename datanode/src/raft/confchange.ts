/**
 * Membership configurations and how a ConfChange transforms one. Pure functions: the same
 * configuration and change give the same result on every replica, so an invalid change is
 * refused identically everywhere (it becomes a no-op when applied).
 */
import { assert } from '../assert.ts';
import type { ConfChange, ConfState, NodeId, SingleConfChange } from './types.ts';

export interface Configuration {
  readonly incoming: ReadonlySet<NodeId>;
  /** Non-empty only in a joint configuration. */
  readonly outgoing: ReadonlySet<NodeId>;
  readonly learners: ReadonlySet<NodeId>;
  readonly learnersNext: ReadonlySet<NodeId>;
  readonly autoLeave: boolean;
}

export type ConfigResult = { readonly ok: true; readonly config: Configuration } | { readonly ok: false; readonly reason: string };

export function isJoint(config: Configuration): boolean {
  return config.outgoing.size > 0;
}

export function isVoter(config: Configuration, id: NodeId): boolean {
  return config.incoming.has(id) || config.outgoing.has(id);
}

/** Every node that receives the log: voters of both halves and all learners. */
export function allMembers(config: Configuration): NodeId[] {
  const ids = new Set<NodeId>([...config.incoming, ...config.outgoing, ...config.learners, ...config.learnersNext]);
  return [...ids].sort((a, b) => a - b);
}

function sorted(ids: ReadonlySet<NodeId>): NodeId[] {
  return [...ids].sort((a, b) => a - b);
}

export function confStateOf(config: Configuration): ConfState {
  return {
    voters: sorted(config.incoming),
    votersOutgoing: sorted(config.outgoing),
    learners: sorted(config.learners),
    learnersNext: sorted(config.learnersNext),
    autoLeave: config.autoLeave,
  };
}

/** Checks the structural invariants of a configuration; returns a reason or undefined. */
function invalidReason(config: Configuration): string | undefined {
  for (const id of config.learners) {
    if (isVoter(config, id)) return `node ${id} is both learner and voter`;
  }
  for (const id of config.learnersNext) {
    if (!config.outgoing.has(id)) return `learner-next ${id} is not an outgoing voter`;
    if (config.incoming.has(id)) return `learner-next ${id} is an incoming voter`;
    if (config.learners.has(id)) return `learner-next ${id} is also a learner`;
  }
  if (!isJoint(config)) {
    if (config.learnersNext.size > 0) return 'learners-next outside a joint configuration';
    if (config.autoLeave) return 'auto-leave outside a joint configuration';
  }
  return undefined;
}

export function configFromConfState(confState: ConfState): Configuration {
  const config: Configuration = {
    incoming: new Set(confState.voters),
    outgoing: new Set(confState.votersOutgoing),
    learners: new Set(confState.learners),
    learnersNext: new Set(confState.learnersNext),
    autoLeave: confState.autoLeave,
  };
  const reason = invalidReason(config);
  assert(reason === undefined, `invalid ConfState: ${reason ?? ''}`);
  return config;
}

function applySingles(config: Configuration, changes: readonly SingleConfChange[]): ConfigResult {
  const incoming = new Set(config.incoming);
  const learners = new Set(config.learners);
  const learnersNext = new Set(config.learnersNext);
  for (const change of changes) {
    if (!Number.isSafeInteger(change.nodeId) || change.nodeId <= 0) {
      return { ok: false, reason: `invalid node id ${change.nodeId}` };
    }
    const id = change.nodeId;
    incoming.delete(id);
    learners.delete(id);
    learnersNext.delete(id);
    switch (change.op) {
      case 'add-voter':
        incoming.add(id);
        break;
      case 'add-learner':
        // A voter of the outgoing half keeps voting until the joint config is left.
        if (config.outgoing.has(id)) learnersNext.add(id);
        else learners.add(id);
        break;
      case 'remove':
        break;
      default:
        return { ok: false, reason: `unknown change ${JSON.stringify(change)}` };
    }
  }
  if (incoming.size === 0) return { ok: false, reason: 'removed all voters' };
  const next: Configuration = { incoming, outgoing: config.outgoing, learners, learnersNext, autoLeave: config.autoLeave };
  const reason = invalidReason(next);
  if (reason !== undefined) return { ok: false, reason };
  return { ok: true, config: next };
}

function symmetricDifferenceSize(a: ReadonlySet<NodeId>, b: ReadonlySet<NodeId>): number {
  let count = 0;
  for (const id of a) if (!b.has(id)) count++;
  for (const id of b) if (!a.has(id)) count++;
  return count;
}

export function isLeaveJointChange(change: ConfChange): boolean {
  return change.changes.length === 0;
}

/** Whether `change` enters a joint configuration (as opposed to a simple one-voter change). */
export function entersJoint(change: ConfChange): boolean {
  return change.changes.length > 0 && (change.transition !== 'auto' || change.changes.length > 1);
}

/** The configuration that results from applying `change` to `config`, or why it is refused. */
export function applyConfChange(config: Configuration, change: ConfChange): ConfigResult {
  if (isLeaveJointChange(change)) {
    if (!isJoint(config)) return { ok: false, reason: "can't leave a non-joint configuration" };
    const learners = new Set([...config.learners, ...config.learnersNext]);
    return { ok: true, config: { incoming: config.incoming, outgoing: new Set(), learners, learnersNext: new Set(), autoLeave: false } };
  }
  if (isJoint(config)) return { ok: false, reason: 'configuration is already joint' };
  if (entersJoint(change)) {
    if (config.incoming.size === 0) return { ok: false, reason: "can't make a zero-voter configuration joint" };
    const joint: Configuration = { ...config, outgoing: new Set(config.incoming), autoLeave: change.transition !== 'joint-explicit' };
    return applySingles(joint, change.changes);
  }
  const result = applySingles(config, change.changes);
  if (result.ok && symmetricDifferenceSize(config.incoming, result.config.incoming) > 1) {
    return { ok: false, reason: 'more than one voter changed without joint consensus' };
  }
  return result;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeConfChange(change: ConfChange): Uint8Array {
  return encoder.encode(JSON.stringify(change));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const parsed: unknown = JSON.parse(decoder.decode(data));
  assert(typeof parsed === 'object' && parsed !== null, 'conf change entry is an object');
  // The entry was produced by encodeConfChange on a leader; its shape is trusted after this check.
  const change = parsed as ConfChange;
  assert(Array.isArray(change.changes), 'conf change entry has changes');
  return change;
}

export function describeConfChange(change: ConfChange): string {
  if (change.changes.length === 0) return 'leave-joint';
  const ops = change.changes.map((c) => `${c.op === 'add-voter' ? 'v' : c.op === 'add-learner' ? 'l' : 'r'}${c.nodeId}`);
  return `${ops.join(' ')} (${change.transition})`;
}
