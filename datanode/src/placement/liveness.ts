/**
 * Node liveness: each node heartbeats by rewriting its liveness record in the meta range (an epoch
 * that grows at every restart, and a heartbeat counter in the node's own ticks that grows within an
 * epoch). The meta range's leader turns those records into live / suspect / dead with a pure tracker.
 *
 * The tracker never compares clocks across hosts: a node's heartbeat ticks are only compared with
 * that node's earlier heartbeats. What counts is when the *observer* (the tracker's host, in its
 * own ticks) last saw a record advance. Two pauses are tolerated:
 * - a paused node (GC, SIGSTOP) that misses one beat is only `suspect`; it is `dead` after
 *   `deadAfterTicks` of silence, and the planner waits a further configurable time before
 *   replacing its replicas;
 * - a paused observer (its host stalled, or it was not leader) does not hold its own gap against
 *   the nodes: a gap between observations longer than `observerGapTicks` moves every node's
 *   last-seen tick forward by the gap, so nodes get a full `deadAfterTicks` after it resumes.
 *
 * A record seen for the first time (a new tracker, e.g. on a new meta leader) is `suspect` until
 * it advances: it may be what a dead node left behind. A new leader should therefore let the
 * tracker observe for one `suspectAfterTicks` before planning (the driver's `startDelayMs`), or the
 * planner would move leases off nodes whose next beat simply had not arrived yet.
 *
 * Pure: no clock, no I/O. Ticks are safe integers supplied by the host.
 */
import { assert } from '../assert.ts';
import { PlacementError } from './errors.ts';
import type { Liveness, Locality, NodeId, NodeState } from './model.ts';

/** The liveness record a node writes into the meta range (format version 1). */
export interface LivenessRecord {
  readonly nodeId: NodeId;
  /** Grows by at least one at every restart of the node; a lower epoch is a stale record. */
  readonly epoch: number;
  /** The node's own tick counter at this heartbeat; grows within an epoch. */
  readonly heartbeatTicks: number;
  readonly locality: Locality;
  readonly capacityBytes: number;
  readonly usedBytes: number;
}

export interface LivenessConfig {
  /** How often nodes heartbeat. */
  readonly heartbeatIntervalTicks: number;
  /** Silence (in observer ticks) beyond which a node is suspect: about one missed beat. */
  readonly suspectAfterTicks: number;
  /** Silence after which a node is dead; must leave room for several missed beats. */
  readonly deadAfterTicks: number;
  /** A gap between two observations longer than this is the observer's pause, not the nodes'. */
  readonly observerGapTicks: number;
}

/** Defaults for a 100 ms tick: beat every 1 s, suspect after 1.5 s (one missed beat), dead after 9 s. */
export const defaultLivenessConfig: LivenessConfig = {
  heartbeatIntervalTicks: 10,
  suspectAfterTicks: 15,
  deadAfterTicks: 90,
  observerGapTicks: 20,
};

/** What the tracker remembers about one node between observations. */
export interface NodeLivenessState {
  readonly nodeId: NodeId;
  readonly epoch: number;
  readonly heartbeatTicks: number;
  /** Observer tick at which the record was last seen advancing (or first seen). */
  readonly lastSeenTicks: number;
  /**
   * Whether this tracker has seen the record advance. A record seen only once proves nothing about
   * now (a new leader reads the record a dead node left behind), so the node is `suspect` until it
   * advances, and `dead` if it does not within `deadAfterTicks`.
   */
  readonly confirmed: boolean;
  readonly record: LivenessRecord;
}

export interface LivenessState {
  /** Observer tick of the previous observation, or null before the first. */
  readonly observedTicks: number | null;
  readonly nodes: ReadonlyMap<NodeId, NodeLivenessState>;
}

export interface NodeLiveness {
  readonly nodeId: NodeId;
  readonly liveness: Liveness;
  readonly epoch: number;
  readonly lastSeenTicks: number;
  /** The tick the node was last seen alive; the planner's `deadSinceTicks` when dead. */
  readonly deadSinceTicks: number;
  readonly record: LivenessRecord;
}

export const emptyLivenessState: LivenessState = { observedTicks: null, nodes: new Map() };

/** Throws PH_INVALID_OPTIONS unless suspect ≥ one interval, dead > suspect + one interval, and the gap ≥ one interval. */
export function checkLivenessConfig(config: LivenessConfig): void {
  const problems: string[] = [];
  for (const [field, value] of Object.entries(config)) {
    if (!Number.isSafeInteger(value) || value < 1) problems.push(`${field} must be a positive integer (got ${String(value)})`);
  }
  if (config.suspectAfterTicks < config.heartbeatIntervalTicks) problems.push('suspectAfterTicks must be at least heartbeatIntervalTicks');
  if (config.deadAfterTicks <= config.suspectAfterTicks + config.heartbeatIntervalTicks) {
    problems.push('deadAfterTicks must exceed suspectAfterTicks by more than one heartbeat interval (one missed beat is suspect, not dead)');
  }
  if (config.observerGapTicks < config.heartbeatIntervalTicks) problems.push('observerGapTicks must be at least heartbeatIntervalTicks');
  if (problems.length > 0) throw new PlacementError('PH_INVALID_OPTIONS', `liveness config: ${problems.join('; ')}`);
}

/** Whether `record` is newer than what the tracker holds: a higher epoch, or the same epoch and more ticks. */
function advanced(known: NodeLivenessState, record: LivenessRecord): boolean {
  if (record.epoch !== known.epoch) return record.epoch > known.epoch;
  return record.heartbeatTicks > known.heartbeatTicks;
}

/**
 * Folds one read of the liveness records into the tracker state at observer tick `nowTicks`.
 * A node is seen at `nowTicks` when its record advanced (or is new); stale records (a lower epoch,
 * or the same heartbeat again) change nothing. A node whose record disappeared is forgotten (its
 * record is deleted only after a finished decommission). `nowTicks` must not go backwards.
 */
export function observeLiveness(state: LivenessState, nowTicks: number, records: readonly LivenessRecord[], config: LivenessConfig): LivenessState {
  assert(Number.isSafeInteger(nowTicks), 'nowTicks must be a safe integer');
  assert(state.observedTicks === null || nowTicks >= state.observedTicks, 'observer ticks must not go backwards');
  const gap = state.observedTicks === null ? 0 : nowTicks - state.observedTicks;
  // The observer's own pause is not the nodes' silence: shift their last-seen ticks by the excess.
  const forgiven = gap > config.observerGapTicks ? gap - config.heartbeatIntervalTicks : 0;
  const nodes = new Map<NodeId, NodeLivenessState>();
  for (const record of records) {
    assert(!nodes.has(record.nodeId), `two liveness records for node ${record.nodeId}`);
    const known = state.nodes.get(record.nodeId);
    if (known === undefined || advanced(known, record)) {
      const confirmed = known !== undefined;
      nodes.set(record.nodeId, { nodeId: record.nodeId, epoch: record.epoch, heartbeatTicks: record.heartbeatTicks, lastSeenTicks: nowTicks, confirmed, record });
    } else {
      nodes.set(record.nodeId, { ...known, lastSeenTicks: Math.min(nowTicks, known.lastSeenTicks + forgiven) });
    }
  }
  return { observedTicks: nowTicks, nodes };
}

/** Classifies one node at observer tick `nowTicks`. */
export function classify(node: NodeLivenessState, nowTicks: number, config: LivenessConfig): Liveness {
  const silentTicks = nowTicks - node.lastSeenTicks;
  if (silentTicks >= config.deadAfterTicks) return 'dead';
  return silentTicks > config.suspectAfterTicks || !node.confirmed ? 'suspect' : 'live';
}

/** The liveness of every tracked node at `nowTicks` (normally the tick of the last observation), by node id. */
export function livenessOf(state: LivenessState, nowTicks: number, config: LivenessConfig): NodeLiveness[] {
  return [...state.nodes.values()]
    .sort((a, b) => a.nodeId - b.nodeId)
    .map((node) => ({
      nodeId: node.nodeId,
      liveness: classify(node, nowTicks, config),
      epoch: node.epoch,
      lastSeenTicks: node.lastSeenTicks,
      deadSinceTicks: node.lastSeenTicks,
      record: node.record,
    }));
}

/** Admin decisions kept beside liveness (in the node's descriptor), not written by the node. */
export interface NodeAdminFlags {
  readonly draining: boolean;
  readonly decommissioning: boolean;
}

/** The planner's view of a node: its liveness, its record's locality and disk, and the admin flags. */
export function toNodeState(liveness: NodeLiveness, flags: NodeAdminFlags): NodeState {
  return {
    id: liveness.nodeId,
    liveness: liveness.liveness,
    deadSinceTicks: liveness.deadSinceTicks,
    draining: flags.draining,
    decommissioning: flags.decommissioning,
    locality: liveness.record.locality,
    capacityBytes: liveness.record.capacityBytes,
    usedBytes: liveness.record.usedBytes,
  };
}

/** The current record format. Decoders accept exactly this version and refuse others by name. */
export const livenessRecordVersion = 1;
/** An encoded record never exceeds this; a larger stored value is refused as corrupt. */
export const livenessRecordBytesMax = 4096;
/** Locality labels are Kubernetes topology label values: at most 63 characters, we allow 253. */
export const localityLabelCharsMax = 253;

/** Encodes a record for the meta range: UTF-8 JSON with a `version` field. Asserts the record is valid. */
export function encodeLivenessRecord(record: LivenessRecord): Uint8Array {
  const wire = {
    version: livenessRecordVersion,
    nodeId: record.nodeId,
    epoch: record.epoch,
    heartbeatTicks: record.heartbeatTicks,
    region: record.locality.region,
    zone: record.locality.zone,
    capacityBytes: record.capacityBytes,
    usedBytes: record.usedBytes,
  };
  const problems = validateWire(wire);
  assert(problems.length === 0, `invalid liveness record: ${problems.join('; ')}`);
  const bytes = new TextEncoder().encode(JSON.stringify(wire));
  assert(bytes.length <= livenessRecordBytesMax, 'liveness record too large');
  return bytes;
}

/**
 * Decodes a stored record; throws PH_CORRUPTION naming every problem (malformed, unknown version,
 * bad field). Unknown fields are ignored: a later release may add optional fields within version 1
 * (a rolling upgrade then keeps working); an incompatible change bumps the version.
 */
export function decodeLivenessRecord(bytes: Uint8Array): LivenessRecord {
  if (bytes.length > livenessRecordBytesMax) throw corrupt(`${bytes.length} bytes, more than ${livenessRecordBytesMax}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw corrupt(`not UTF-8 JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw corrupt('not an object');
  const wire = parsed as Record<string, unknown>;
  if (wire['version'] !== livenessRecordVersion) throw corrupt(`unsupported version ${JSON.stringify(wire['version'])} (this node reads ${livenessRecordVersion})`);
  const problems = validateWire(wire);
  if (problems.length > 0) throw corrupt(problems.join('; '));
  return {
    nodeId: wire['nodeId'] as number,
    epoch: wire['epoch'] as number,
    heartbeatTicks: wire['heartbeatTicks'] as number,
    locality: { region: wire['region'] as string, zone: wire['zone'] as string },
    capacityBytes: wire['capacityBytes'] as number,
    usedBytes: wire['usedBytes'] as number,
  };
}

function corrupt(detail: string): PlacementError {
  return new PlacementError('PH_CORRUPTION', `liveness record: ${detail}`);
}

function validateWire(wire: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const integer = (field: string, minimum: number): void => {
    const value = wire[field];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < minimum) {
      problems.push(`${field} must be an integer ≥ ${minimum} (got ${JSON.stringify(value)})`);
    }
  };
  const label = (field: string): void => {
    const value = wire[field];
    if (typeof value !== 'string' || value.length === 0 || value.length > localityLabelCharsMax) {
      problems.push(`${field} must be a string of 1..${localityLabelCharsMax} characters`);
    }
  };
  integer('nodeId', 1);
  integer('epoch', 1);
  integer('heartbeatTicks', 0);
  label('region');
  label('zone');
  integer('capacityBytes', 0);
  integer('usedBytes', 0);
  return problems;
}
