/**
 * The replicated KV state machine of one range, a view on the node's shared storage engine
 * (key layout: keys.ts). The Raft log is its write-ahead log: committed entries are applied with
 * sync:false together with the range's applied index (in the same batch), so a restart knows
 * where to resume replaying the log; before the Raft log is compacted below the applied index
 * the engine's own write-ahead log is synced (makeDurable).
 *
 * Range-local replicated state (under 0x02 <rangeId>):
 *   "applied"      the applied Raft index (u64 big-endian)
 *   "desc"         the range's own descriptor (descriptor.ts, JSON); absent: uninitialised replica
 *   "write-ts"     the range's closed timestamp: every version written so far is at or below it,
 *                  every later one above it (u64 big-endian, a packed HLC timestamp)
 *   meta range only:
 *   "members"      the address book (JSON {"<nodeId>": {"raft": "host:port", "kv": "host:port"}})
 *   "lifecycle"    member lifecycle records (JSON {"decommissioning": [ids], "removed": [ids]})
 *   "meta/" <id>   a copy of range <id>'s descriptor, for routing
 *   "cluster-version"  the cluster version record (JSON {"version": "0.1.0"}); absent in data
 *                  directories from before cluster versions, which count as version 0.1.0
 *   "pts/" <id>    a protected timestamp (command.ts protectionJson): GC keeps what reads at it need
 *
 * User data is versioned (keys.ts): a write adds a version at its timestamp, a delete adds a
 * tombstone version; reads without a timestamp see the newest version, reads at T the newest
 * version at or below T.
 *
 * A user command for a key outside the range's span (the range split before the command was
 * applied) has no effect and answers 'range-mismatch', so the gateway retries at the right range.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assert, assertNever } from '../assert.ts';
import { allMembers, applyConfChange, configFromConfState, confStateOf, decodeConfChange, isVoter, type Configuration } from '../raft/confchange.ts';
import type { ConfState, Entry } from '../raft/types.ts';
import { type RangeDeletionPlan, StorageEngine, WriteBatch } from '../storage/engine.ts';
import { mvccTimestampMax } from '../storage/mvcc.ts';
import { VersionError } from '../version/errors.ts';
import { compareVersions, isVersion } from '../version/version.ts';
import { decodeCommand, membersJson, parseMembers, parseProtection, protectionJson, type Command, type MemberAddress, type StoredProtection } from './command.ts';
import { containsKey, containsSpan, decodeDescriptor, encodeDescriptor, metaRangeId, type RangeDescriptor, type ReplicaDescriptor } from './descriptor.ts';
import { KvError } from './errors.ts';
import {
  decodeU64,
  decodeUserVersionKey,
  decodeVersionValue,
  encodeU64,
  encodeVersionValue,
  layoutVersion,
  layoutVersionKey,
  legacyPrefix,
  rangeIdSeqKey,
  rangeLocalEnd,
  rangeLocalKey,
  rangeLocalStart,
  tombstoneKey,
  tombstonePrefix,
  userBounds,
  userPrefix,
  userVersionKey,
  versionTombstoneTag,
} from './keys.ts';

export { userKey } from './keys.ts';

/**
 * What a node keeps of a range replica it dropped after its removal: the applied index and the
 * descriptor generation then (undefined in tombstones of builds that did not record it).
 */
export interface RangeTombstone {
  readonly removedAt: number;
  readonly generation?: number;
}

/** Replicated lifecycle records: ids being decommissioned, and ids removed for good. */
export interface MemberLifecycles {
  readonly decommissioning: ReadonlySet<number>;
  readonly removed: ReadonlySet<number>;
}

function parseLifecycles(bytes: Buffer | undefined): MemberLifecycles {
  if (bytes === undefined) return { decommissioning: new Set(), removed: new Set() };
  const parsed: unknown = JSON.parse(bytes.toString('utf8'));
  assert(typeof parsed === 'object' && parsed !== null, 'lifecycle record is an object');
  const { decommissioning, removed } = parsed as Record<string, unknown>;
  assert(Array.isArray(decommissioning) && decommissioning.every((id) => typeof id === 'number'), 'decommissioning ids');
  assert(Array.isArray(removed) && removed.every((id) => typeof id === 'number'), 'removed ids');
  return { decommissioning: new Set(decommissioning as number[]), removed: new Set(removed as number[]) };
}

/** The cluster version of a meta range bootstrapped before the record existed (the first release). */
export const legacyClusterVersion = '0.1.0';

function parseClusterVersion(bytes: Buffer | undefined): string | undefined {
  if (bytes === undefined) return undefined;
  const parsed: unknown = JSON.parse(bytes.toString('utf8'));
  assert(typeof parsed === 'object' && parsed !== null, 'cluster version record is an object');
  const { version } = parsed as Record<string, unknown>;
  assert(typeof version === 'string' && isVersion(version), 'cluster version record names a version');
  return version;
}

function lifecyclesJson(lifecycles: MemberLifecycles): string {
  return JSON.stringify({ decommissioning: [...lifecycles.decommissioning].sort((a, b) => a - b), removed: [...lifecycles.removed].sort((a, b) => a - b) });
}

export type ApplyResult =
  | { readonly op: 'noop' }
  | { readonly op: 'put' }
  | { readonly op: 'delete'; readonly existed: boolean }
  | { readonly op: 'cas'; readonly ok: boolean; readonly current: Buffer | null }
  | { readonly op: 'members' }
  | { readonly op: 'member-state' }
  | { readonly op: 'batch'; readonly results: readonly ApplyResult[] }
  | { readonly op: 'conf-change' }
  /** The key is not (or no longer) in this range: nothing was written. */
  | { readonly op: 'range-mismatch'; readonly descriptor: RangeDescriptor | undefined }
  | { readonly op: 'split'; readonly ok: boolean; readonly left?: RangeDescriptor; readonly right?: RangeDescriptor }
  | { readonly op: 'meta-descriptors' }
  | { readonly op: 'cluster-version'; readonly version: string }
  | { readonly op: 'close-ts' }
  | { readonly op: 'protect-ts' }
  | { readonly op: 'release-ts' }
  | { readonly op: 'meta-record' };

export interface ScanRow {
  readonly key: Buffer;
  readonly value: Buffer;
}

/** Called once a split is applied (and written): the right range exists in the engine. */
export type SplitListener = (left: RangeDescriptor, right: RangeDescriptor) => Promise<void>;

/**
 * The node's one storage engine, checked to be in this layout (keys.ts) when opened. A data
 * directory from the single-range layout is refused: it cannot be read as ranges.
 */
export class KvEngine {
  private constructor(readonly engine: StorageEngine) {}

  static async open(dir: string): Promise<KvEngine> {
    // The Raft log is the durable record of replicated writes: the engine need not fsync them.
    // User data is MVCC-versioned: compactions drop versions below the GC threshold (KvGc).
    const engine = await StorageEngine.open(dir, { syncWritesByDefault: false, mvccGarbageCollection: true, mvccKeyPrefixByte: userPrefix, mvccTombstoneByte: versionTombstoneTag });
    try {
      const recorded = engine.get(layoutVersionKey);
      if (recorded === undefined) {
        const it = engine.iterator({ lowerBound: Buffer.from([legacyPrefix]), upperBound: Buffer.from([legacyPrefix + 1]) });
        let legacy = false;
        try {
          it.seek(Buffer.from([legacyPrefix]));
          legacy = it.valid();
        } finally {
          it.close();
        }
        if (legacy) {
          throw new KvError('PH_BAD_REQUEST', `data directory ${dir} holds the single-range layout of an earlier PhantomDB build; this build keeps data in ranges and cannot read it: start with a new data directory`);
        }
        await engine.put(layoutVersionKey, Buffer.from(String(layoutVersion)), { sync: true });
      } else if (recorded.toString() === '2') {
        throw new KvError('PH_BAD_REQUEST', `data directory ${dir} holds key layout version 2 of an earlier PhantomDB build (one unversioned value per key); this build keeps MVCC versions (layout ${layoutVersion}) and cannot read it: start with a new data directory, or restore a backup into a new cluster`);
      } else if (Number(recorded.toString()) > layoutVersion) {
        // A newer build wrote this directory: its keys may mean something this build would misread.
        throw new VersionError('PH_FORMAT_UNSUPPORTED', `data directory ${dir} has key layout version ${recorded.toString()}, newer than the version ${layoutVersion} this build reads: a newer PhantomDB wrote it; run that version or newer`);
      } else if (recorded.toString() !== String(layoutVersion)) {
        throw new KvError('PH_BAD_REQUEST', `data directory ${dir} has key layout version ${recorded.toString()}; this build reads version ${layoutVersion}`);
      }
    } catch (err) {
      await engine.close();
      throw err;
    }
    return new KvEngine(engine);
  }

  /**
   * A range id no other node hands out: this node's id in the high bits, a durable counter below.
   * The counter is node-local and a node that lost its volume keeps its id, so the counter is
   * never below the ids of this node's block found in `knownIds` (replicated state: the meta
   * range's descriptor copies and the ranges hosted here): a lost counter does not hand out an
   * id that is still in use.
   */
  async allocateRangeId(nodeId: number, knownIds: Iterable<number> = []): Promise<number> {
    const blockStart = nodeId * 2 ** 20;
    const current = this.engine.get(rangeIdSeqKey);
    let highest = current === undefined ? 0 : decodeU64(current);
    for (const id of knownIds) if (id > blockStart && id < blockStart + 2 ** 20) highest = Math.max(highest, id - blockStart);
    const next = highest + 1;
    assert(next < 2 ** 20, 'range ids of this node are not exhausted');
    await this.engine.put(rangeIdSeqKey, encodeU64(next), { sync: true });
    return nodeId * 2 ** 20 + next;
  }

  /**
   * The tombstones of ranges whose replica this node dropped: range id → the applied index and
   * the descriptor generation at the removal (generation undefined: written by a build that did
   * not record it).
   */
  tombstones(): Map<number, RangeTombstone> {
    const out = new Map<number, RangeTombstone>();
    const upper = Buffer.from(tombstonePrefix);
    upper[upper.length - 1] = (upper[upper.length - 1] ?? 0) + 1;
    const it = this.engine.iterator({ lowerBound: tombstonePrefix, upperBound: upper });
    try {
      for (it.seek(tombstonePrefix); it.valid(); it.next()) {
        const value = Buffer.from(it.value());
        out.set(decodeU64(Buffer.from(it.key()), tombstonePrefix.length), { removedAt: decodeU64(value), ...(value.length >= 16 ? { generation: decodeU64(value, 8) } : {}) });
      }
    } finally {
      it.close();
    }
    return out;
  }

  /** Records (durably) that this node dropped its replica of `rangeId` after its removal (applied index, descriptor generation). */
  writeTombstone(rangeId: number, tombstone: { readonly removedAt: number; readonly generation: number }): Promise<void> {
    return this.engine.put(tombstoneKey(rangeId), Buffer.concat([encodeU64(tombstone.removedAt), encodeU64(tombstone.generation)]), { sync: true });
  }

  /** Forgets a tombstone (the range took this node back); unsynced: a lost delete only delays that. */
  deleteTombstone(rangeId: number): Promise<void> {
    return this.engine.del(tombstoneKey(rangeId), { sync: false });
  }

  /** The ids of the ranges that have a descriptor in the engine (initialised replicas). */
  rangeIds(): number[] {
    return this.rangeDescriptors().map((desc) => desc.rangeId);
  }

  /**
   * The descriptors of the ranges that have one in the engine, in range id order: one read of
   * each range's descriptor key (no state machine is built, so the meta range's records are not
   * scanned), e.g. to check a dropped replica's span against the other ranges here.
   */
  rangeDescriptors(): RangeDescriptor[] {
    const descriptors: RangeDescriptor[] = [];
    const it = this.engine.iterator({ lowerBound: rangeLocalStart(0), upperBound: Buffer.from([0x03]) });
    try {
      it.seek(rangeLocalStart(0));
      while (it.valid()) {
        const key = Buffer.from(it.key());
        const id = decodeU64(key, 1);
        const bytes = this.engine.get(rangeLocalKey(id, 'desc'));
        if (bytes !== undefined) descriptors.push(decodeDescriptor(bytes));
        it.seek(rangeLocalEnd(id));
      }
    } finally {
      it.close();
    }
    return descriptors;
  }

  flush(): Promise<void> {
    return this.engine.flush();
  }

  close(): Promise<void> {
    return this.engine.close();
  }
}

/** Commands that act on a range's keys: only a replica that has its descriptor may apply them. */
const rangeCommandOps: ReadonlySet<Command['op']> = new Set(['put', 'delete', 'cas', 'split', 'close-ts']);

/** Reads see the newest version at or below this (the newest of all). */
const newestTs = mvccTimestampMax;

/**
 * A broken invariant of a range's stored state (a committed command that this replica cannot
 * apply faithfully). The replica stops (Replica.fail) rather than apply it wrongly.
 */
export class RangeStateError extends Error {
  override readonly name = 'RangeStateError';
  readonly code = 'PH_CORRUPTION';
}

/**
 * The newest value of each user key written earlier in one apply, for the deletes and
 * compare-and-sets that read it. Writes are only listed until the first read asks: most applies
 * are plain puts, which then cost no key conversion and no map insertion.
 */
class WriteOverlay {
  private readonly writes: [Buffer, Buffer | null][] = [];
  private byKey: Map<string, Buffer | null> | undefined;

  set(key: Buffer, value: Buffer | null): void {
    if (this.byKey === undefined) this.writes.push([key, value]);
    else this.byKey.set(key.toString('latin1'), value);
  }

  /** The value written last for `key` (null: deleted), or undefined when this apply did not write it. */
  get(key: Buffer): Buffer | null | undefined {
    if (this.byKey === undefined) {
      this.byKey = new Map();
      for (const [written, value] of this.writes) this.byKey.set(written.toString('latin1'), value);
      this.writes.length = 0;
    }
    return this.byKey.get(key.toString('latin1'));
  }
}

export class KvStateMachine {
  private applied: number;
  private desc: RangeDescriptor | undefined;
  private members: Map<number, MemberAddress>;
  private lifecycles: MemberLifecycles;
  private metaDescriptors: Map<number, RangeDescriptor>;
  private protections: Map<string, StoredProtection>;
  /** The range's closed timestamp (see "write-ts"): the next version is written above it. */
  private writeTs: bigint;
  /** Named cluster-wide records of the meta range (meta-record commands), by name. */
  private metaRecordValues: Map<string, Buffer> = new Map();
  private lifecycleListener: ((lifecycles: MemberLifecycles) => void) | undefined;
  private membersListener: ((members: ReadonlyMap<number, MemberAddress>) => void) | undefined;
  private splitListener: SplitListener | undefined;
  private clusterVersionRecord: string | undefined;
  private clusterVersionListener: ((version: string) => void) | undefined;
  private readonly clusterVersionKey: Buffer;
  /** Bytes of user writes applied since the last size check (a hint for split checks). */
  bytesSinceSizeCheck = 0;
  /**
   * The user bytes the last size check measured (undefined: none since this replica started or
   * since the range last split). With bytesSinceSizeCheck it bounds the range's size from above
   * (overwrites and deletes are counted as growth), so a split check can skip the walk.
   */
  private measuredBytes: number | undefined;
  private readonly appliedKey: Buffer;
  private readonly descKey: Buffer;
  private readonly membersKey: Buffer;
  private readonly lifecycleKey: Buffer;
  private readonly writeTsKey: Buffer;

  constructor(
    readonly engine: StorageEngine,
    readonly rangeId: number,
  ) {
    this.appliedKey = rangeLocalKey(rangeId, 'applied');
    this.descKey = rangeLocalKey(rangeId, 'desc');
    this.membersKey = rangeLocalKey(rangeId, 'members');
    this.lifecycleKey = rangeLocalKey(rangeId, 'lifecycle');
    this.writeTsKey = rangeLocalKey(rangeId, 'write-ts');
    this.clusterVersionKey = rangeLocalKey(rangeId, 'cluster-version');
    this.applied = 0;
    this.writeTs = 0n;
    this.protections = new Map();
    this.members = new Map();
    this.lifecycles = { decommissioning: new Set(), removed: new Set() };
    this.metaDescriptors = new Map();
    this.reload();
  }

  /** Opens an engine at `dir` and the state machine of range `rangeId` on it (tests). */
  static async open(dir: string, rangeId: number): Promise<KvStateMachine> {
    const kv = await KvEngine.open(dir);
    return new KvStateMachine(kv.engine, rangeId);
  }

  private reload(): void {
    const appliedBytes = this.engine.get(this.appliedKey);
    this.applied = appliedBytes === undefined ? 0 : decodeU64(appliedBytes);
    const descBytes = this.engine.get(this.descKey);
    this.desc = descBytes === undefined ? undefined : decodeDescriptor(descBytes);
    const writeTsBytes = this.engine.get(this.writeTsKey);
    this.writeTs = writeTsBytes === undefined ? 0n : writeTsBytes.readBigUInt64BE(0);
    if (this.rangeId !== metaRangeId) return;
    this.protections = new Map();
    this.scanMetaLocal('pts', (_id, value) => {
      const protection = parseProtection(value.toString('utf8'));
      this.protections.set(protection.id, protection);
    });
    const membersBytes = this.engine.get(this.membersKey);
    this.members = membersBytes === undefined ? new Map() : parseMembers(membersBytes.toString('utf8'));
    this.lifecycles = parseLifecycles(this.engine.get(this.lifecycleKey));
    this.clusterVersionRecord = parseClusterVersion(this.engine.get(this.clusterVersionKey));
    this.metaDescriptors = new Map();
    this.scanMetaLocal('meta', (_rangeId, value) => {
      const desc = decodeDescriptor(value);
      this.metaDescriptors.set(desc.rangeId, desc);
    });
    this.metaRecordValues = new Map();
    this.scanMetaLocal('rec', (name, value) => this.metaRecordValues.set(name.toString('utf8'), value));
  }

  /**
   * Calls `visit` for each of the meta range's local keys `<kind>/<suffix>`, in key order, with
   * the suffix and the value (both copies: the iterator's buffers are not kept).
   */
  private scanMetaLocal(kind: string, visit: (suffix: Buffer, value: Buffer) => void): void {
    const lower = rangeLocalKey(metaRangeId, `${kind}/`);
    // '0' follows '/': the upper bound ends the `<kind>/` keys.
    const it = this.engine.iterator({ lowerBound: lower, upperBound: rangeLocalKey(metaRangeId, `${kind}0`) });
    try {
      for (it.seek(lower); it.valid(); it.next()) visit(Buffer.from(it.key().subarray(lower.byteLength)), Buffer.from(it.value()));
    } finally {
      it.close();
    }
  }

  /**
   * Writes the descriptor of a range being bootstrapped (a new cluster), durably, unless the
   * range already has one. Idempotent.
   */
  async bootstrap(desc: RangeDescriptor, extra: readonly RangeDescriptor[] = []): Promise<void> {
    assert(desc.rangeId === this.rangeId, 'bootstrap descriptor names this range');
    if (this.desc !== undefined) return;
    const batch = new WriteBatch();
    batch.put(this.descKey, encodeDescriptor(desc));
    if (this.rangeId === metaRangeId) for (const other of [desc, ...extra]) batch.put(rangeLocalKey(metaRangeId, Buffer.concat([Buffer.from('meta/'), encodeU64(other.rangeId)])), encodeDescriptor(other));
    await this.engine.write(batch, { sync: true });
    this.reload();
  }

  appliedIndex(): number {
    return this.applied;
  }

  /** The range's descriptor as of the applied index; undefined on an uninitialised replica. */
  descriptor(): RangeDescriptor | undefined {
    return this.desc;
  }

  get initialized(): boolean {
    return this.desc !== undefined;
  }

  /** The replicated address book (node id → gRPC address), as of the applied index (meta range). */
  memberAddresses(): ReadonlyMap<number, MemberAddress> {
    return this.members;
  }

  /** The replicated lifecycle records (decommissioning and removed ids), as of the applied index (meta range). */
  memberLifecycles(): MemberLifecycles {
    return this.lifecycles;
  }

  /** The protected timestamps the meta range holds (expired ones included: readers check expiry). */
  protectedTimestamps(): readonly StoredProtection[] {
    return [...this.protections.values()];
  }

  /** The range's closed timestamp: every version it holds is at or below it, every later write above. */
  closedTimestamp(): bigint {
    return this.writeTs;
  }

  /** The descriptor copies the meta range holds, by range id. */
  rangeDescriptors(): ReadonlyMap<number, RangeDescriptor> {
    return this.metaDescriptors;
  }

  /**
   * The cluster version record as of the applied index (meta range): undefined on a replica
   * that has no meta state yet (a joining node before its snapshot), `legacyClusterVersion` for
   * a cluster bootstrapped before the record existed.
   */
  clusterVersion(): string | undefined {
    if (this.clusterVersionRecord !== undefined) return this.clusterVersionRecord;
    return this.rangeId === metaRangeId && this.desc !== undefined ? legacyClusterVersion : undefined;
  }

  /** Called after an applied command (or snapshot) changed the cluster version. */
  onClusterVersionChanged(listener: (version: string) => void): void {
    this.clusterVersionListener = listener;
  }

  /**
   * Writes the cluster version record of a cluster being bootstrapped here (meta range), durably,
   * unless it has one. Every initial voter writes it: they must run the same binary version.
   */
  async bootstrapClusterVersion(version: string): Promise<void> {
    assert(this.rangeId === metaRangeId, 'the cluster version lives in the meta range');
    assert(isVersion(version), 'the bootstrap cluster version is a version');
    if (this.engine.get(this.clusterVersionKey) !== undefined) return;
    await this.engine.put(this.clusterVersionKey, Buffer.from(JSON.stringify({ version }), 'utf8'), { sync: true });
    this.reload();
  }

  /** The meta range's named records whose names start with `prefix`, as of the applied index. */
  metaRecords(prefix: string): Map<string, Buffer> {
    const out = new Map<string, Buffer>();
    for (const [name, value] of this.metaRecordValues) if (name.startsWith(prefix)) out.set(name, value);
    return out;
  }

  onLifecyclesChanged(listener: (lifecycles: MemberLifecycles) => void): void {
    this.lifecycleListener = listener;
  }

  onMembersChanged(listener: (members: ReadonlyMap<number, MemberAddress>) => void): void {
    this.membersListener = listener;
  }

  onSplit(listener: SplitListener): void {
    this.splitListener = listener;
  }

  /**
   * Applies committed entries in one engine batch (unsynced) with the new applied index.
   * Entries at or below the applied index (replayed after a snapshot was installed ahead of the
   * log) are skipped and answer undefined.
   *
   * A configuration change of a user range bumps its descriptor's generation and sets its
   * replicas to the configuration that results (`config`: the Raft configuration before the
   * first of `entries`; without it only the generation moves), so descriptors of one range
   * order by generation across replica moves as they do across splits.
   */
  async apply(entries: readonly Entry[], config?: ConfState): Promise<(ApplyResult | undefined)[]> {
    // Sized up front: a command's encoding is about as large as the versions it writes.
    let expectedBytes = 256;
    for (const entry of entries) expectedBytes += entry.data.byteLength + 64;
    const batch = new WriteBatch({ expectedBytes });
    const overlay = new WriteOverlay();
    const results: (ApplyResult | undefined)[] = [];
    const membersBefore = this.members;
    const lifecyclesBefore = this.lifecycles;
    const clusterVersionBefore = this.clusterVersionRecord;
    const splits: { left: RangeDescriptor; right: RangeDescriptor }[] = [];
    const writeTsBefore = this.writeTs;
    let last = this.applied;
    let configuration = config === undefined ? undefined : configFromConfState(config);
    let descChanged = false;
    for (const entry of entries) {
      // Skipped entries' changes are followed too: the Raft core's configuration may lag the state.
      let changed = false;
      if (entry.kind === 'conf-change') {
        const result = configuration === undefined ? undefined : applyConfChange(configuration, decodeConfChange(entry.data));
        if (result?.ok === true) configuration = result.config;
        changed = result === undefined || result.ok;
      }
      if (entry.index <= this.applied) {
        results.push(undefined);
        continue;
      }
      assert(entry.index > last, 'committed entries are applied in order');
      last = entry.index;
      if (entry.kind === 'conf-change') {
        if (changed && this.desc !== undefined && this.rangeId !== metaRangeId) {
          this.desc = { ...this.desc, generation: this.desc.generation + 1, replicas: configuration === undefined ? this.desc.replicas : replicasOfConfiguration(configuration) };
          descChanged = true;
        }
        results.push({ op: 'conf-change' });
      }
      else if (entry.data.byteLength === 0) results.push({ op: 'noop' });
      else results.push(this.applyCommand(decodeCommand(entry.data), batch, overlay, splits));
    }
    if (last === this.applied) return results;
    if (descChanged && this.desc !== undefined) batch.put(this.descKey, encodeDescriptor(this.desc));
    batch.put(this.appliedKey, encodeU64(last));
    if (this.writeTs !== writeTsBefore) batch.put(this.writeTsKey, u64Bytes(this.writeTs));
    // A split is synced: the right range's Raft group is created (durably, by the log store)
    // right after, and must never outlive the descriptor that makes its log meaningful.
    await this.engine.write(batch, { sync: splits.length > 0 });
    this.applied = last;
    if (this.members !== membersBefore) this.membersListener?.(this.members);
    if (this.lifecycles !== lifecyclesBefore) this.lifecycleListener?.(this.lifecycles);
    if (this.clusterVersionRecord !== clusterVersionBefore && this.clusterVersionRecord !== undefined) this.clusterVersionListener?.(this.clusterVersionRecord);
    for (const split of splits) await this.splitListener?.(split.left, split.right);
    return results;
  }

  /** The newest value of a user key: written earlier in this apply (the overlay), else in the engine. */
  private readLatest(key: Buffer, overlay: WriteOverlay): Buffer | null {
    const written = overlay.get(key);
    if (written !== undefined) return written;
    return this.readAt(key, newestTs) ?? null;
  }

  /** Writes a version of a user key at the proposed timestamp, or just above the range's last one. */
  private writeVersion(key: Buffer, value: Buffer | null, proposedTs: bigint | undefined, batch: WriteBatch, overlay: WriteOverlay): void {
    overlay.set(key, value);
    // Versions of a range are ordered like its log, whatever the proposing leaders' clocks said.
    const ts = (proposedTs ?? 0n) > this.writeTs ? (proposedTs ?? 0n) : this.writeTs + 1n;
    this.writeTs = ts;
    batch.put(userVersionKey(key, ts), encodeVersionValue(value));
  }

  private owns(key: Buffer): boolean {
    return this.desc !== undefined && containsKey(this.desc, key);
  }

  // Methods rather than closures: this runs for every replicated write on every replica.
  private applyCommand(command: Command, batch: WriteBatch, overlay: WriteOverlay, splits: { left: RangeDescriptor; right: RangeDescriptor }[]): ApplyResult {
    if (this.desc === undefined && this.rangeId !== metaRangeId && rangeCommandOps.has(command.op)) {
      // Applying it as a no-op would advance the applied index past a write this replica never
      // made: its log and its state would disagree for good. Stop instead.
      throw new RangeStateError(`range ${this.rangeId}: committed ${command.op} command reached a replica with a Raft log but no range descriptor; refusing to apply it`);
    }
    switch (command.op) {
      case 'put':
        if (!this.owns(command.key)) return { op: 'range-mismatch', descriptor: this.desc };
        this.writeVersion(command.key, command.value, command.ts, batch, overlay);
        this.bytesSinceSizeCheck += command.key.byteLength + command.value.byteLength;
        return { op: 'put' };
      case 'delete': {
        if (!this.owns(command.key)) return { op: 'range-mismatch', descriptor: this.desc };
        const existed = this.readLatest(command.key, overlay) !== null;
        // No tombstone over a key that has none live: it would only be garbage.
        if (existed) this.writeVersion(command.key, null, command.ts, batch, overlay);
        return { op: 'delete', existed };
      }
      case 'cas': {
        if (!this.owns(command.key)) return { op: 'range-mismatch', descriptor: this.desc };
        const current = this.readLatest(command.key, overlay);
        const ok = command.expected === null ? current === null : current !== null && current.equals(command.expected);
        if (ok) {
          this.writeVersion(command.key, command.value, command.ts, batch, overlay);
          this.bytesSinceSizeCheck += command.key.byteLength + command.value.byteLength;
        }
        return { op: 'cas', ok, current };
      }
      case 'close-ts':
        if (command.ts > this.writeTs) this.writeTs = command.ts;
        return { op: 'close-ts' };
      case 'protect-ts':
        if (this.rangeId !== metaRangeId) return { op: 'protect-ts' };
        this.protections = new Map(this.protections).set(command.protection.id, command.protection);
        batch.put(protectionKey(command.protection.id), Buffer.from(protectionJson(command.protection), 'utf8'));
        return { op: 'protect-ts' };
      case 'release-ts': {
        if (this.rangeId !== metaRangeId) return { op: 'release-ts' };
        const next = new Map(this.protections);
        next.delete(command.id);
        this.protections = next;
        batch.del(protectionKey(command.id));
        return { op: 'release-ts' };
      }
      case 'batch': {
        const results: ApplyResult[] = new Array<ApplyResult>(command.commands.length);
        for (let i = 0; i < command.commands.length; i++) results[i] = this.applyCommand(command.commands[i] as Command, batch, overlay, splits);
        return { op: 'batch', results };
      }
      case 'members': {
        if (this.rangeId !== metaRangeId) return { op: 'members' };
        const merged = new Map(this.members);
        for (const [id, address] of command.members) merged.set(id, address);
        this.members = merged;
        batch.put(this.membersKey, Buffer.from(membersJson(merged), 'utf8'));
        return { op: 'members' };
      }
      case 'member-state': {
        if (this.rangeId !== metaRangeId) return { op: 'member-state' };
        const decommissioning = new Set(this.lifecycles.decommissioning);
        const removed = new Set(this.lifecycles.removed);
        // Removal is final: a late 'active' or 'decommissioning' for a removed id changes nothing.
        if (!removed.has(command.nodeId)) {
          decommissioning.delete(command.nodeId);
          if (command.state === 'decommissioning') decommissioning.add(command.nodeId);
          if (command.state === 'removed') removed.add(command.nodeId);
        }
        this.lifecycles = { decommissioning, removed };
        batch.put(this.lifecycleKey, Buffer.from(lifecyclesJson(this.lifecycles), 'utf8'));
        return { op: 'member-state' };
      }
      case 'split':
        return this.applySplit(command, batch, splits);
      case 'meta-descriptors': {
        if (this.rangeId !== metaRangeId) return { op: 'meta-descriptors' };
        const next = new Map(this.metaDescriptors);
        for (const desc of command.descriptors) {
          const known = next.get(desc.rangeId);
          if (known !== undefined && known.generation > desc.generation) continue;
          next.set(desc.rangeId, desc);
          batch.put(rangeLocalKey(metaRangeId, Buffer.concat([Buffer.from('meta/'), encodeU64(desc.rangeId)])), encodeDescriptor(desc));
        }
        this.metaDescriptors = next;
        return { op: 'meta-descriptors' };
      }
      case 'cluster-version': {
        const current = this.clusterVersion();
        if (this.rangeId !== metaRangeId || current === undefined) return { op: 'cluster-version', version: current ?? '' };
        // The record only moves up: a finalization proposed twice (or raced) leaves the higher one.
        if (compareVersions(command.version, current) <= 0) return { op: 'cluster-version', version: current };
        this.clusterVersionRecord = command.version;
        batch.put(this.clusterVersionKey, Buffer.from(JSON.stringify({ version: command.version }), 'utf8'));
        return { op: 'cluster-version', version: command.version };
      }
      case 'meta-record': {
        if (this.rangeId !== metaRangeId) return { op: 'meta-record' };
        const next = new Map(this.metaRecordValues);
        const key = rangeLocalKey(metaRangeId, Buffer.concat([Buffer.from('rec/'), Buffer.from(command.name, 'utf8')]));
        if (command.value === null) {
          next.delete(command.name);
          batch.del(key);
        } else {
          next.set(command.name, command.value);
          batch.put(key, command.value);
        }
        this.metaRecordValues = next;
        return { op: 'meta-record' };
      }
      default:
        return assertNever(command, 'command');
    }
  }

  /**
   * The left part keeps this range's id with the span [start, splitKey); the right part becomes
   * a new range [splitKey, end) on the given replicas. Its user data is already in the shared
   * engine: only descriptors are written. Replaying a split whose right range already exists
   * here (a snapshot brought it, or the split was applied before a crash) leaves it alone.
   */
  private applySplit(command: Extract<Command, { op: 'split' }>, batch: WriteBatch, splits: { left: RangeDescriptor; right: RangeDescriptor }[]): ApplyResult {
    const desc = this.desc;
    if (desc === undefined || desc.rangeId !== command.rangeId || desc.generation !== command.generation || desc.rangeId === metaRangeId) return { op: 'split', ok: false };
    if (!containsKey(desc, command.splitKey) || command.splitKey.equals(desc.startKey)) return { op: 'split', ok: false };
    const generation = desc.generation + 1;
    const left: RangeDescriptor = { ...desc, endKey: command.splitKey, generation };
    const right: RangeDescriptor = { rangeId: command.newRangeId, startKey: command.splitKey, endKey: desc.endKey, generation, replicas: command.replicas };
    const rightDescKey = rangeLocalKey(right.rangeId, 'desc');
    const existingRight = this.engine.get(rightDescKey);
    // A right range that exists already came from this split (replayed after a crash, or a
    // snapshot brought it) only if it starts at the split key; any other range with that id is
    // someone else's (a reused id): shrinking the left would leave [splitKey, its start) unowned.
    if (existingRight !== undefined && !decodeDescriptor(existingRight).startKey.equals(command.splitKey)) return { op: 'split', ok: false };
    batch.put(this.descKey, encodeDescriptor(left));
    if (existingRight === undefined) {
      batch.put(rightDescKey, encodeDescriptor(right));
      batch.put(rangeLocalKey(right.rangeId, 'applied'), encodeU64(0));
      // The right range holds versions up to this range's closed timestamp: its writes go above.
      batch.put(rangeLocalKey(right.rangeId, 'write-ts'), u64Bytes(this.writeTs));
    }
    this.desc = left;
    this.bytesSinceSizeCheck = 0;
    this.measuredBytes = undefined;
    splits.push({ left, right });
    return { op: 'split', ok: true, left, right };
  }

  /**
   * The value of user key `key`: its newest version, or with `at` its newest version at or below
   * `at` (a tombstone reads as absent); RangeMismatch when the range does not hold it.
   */
  get(key: Uint8Array, at?: bigint): Buffer | undefined {
    this.checkKey(key);
    return this.readAt(Buffer.from(key), at ?? newestTs);
  }

  private readAt(key: Buffer, at: bigint): Buffer | undefined {
    const { lower, upper } = userBounds(key, Buffer.concat([key, Buffer.from([0])]));
    const it = this.engine.iterator({ lowerBound: lower, upperBound: upper });
    try {
      it.seek(userVersionKey(key, at));
      if (!it.valid()) return undefined;
      return decodeVersionValue(it.value()) ?? undefined;
    } finally {
      it.close();
    }
  }

  /** Throws PH_RANGE_MISMATCH unless this range holds `key`. */
  checkKey(key: Uint8Array): void {
    if (this.desc === undefined || !containsKey(this.desc, key)) throw rangeMismatch(this.rangeId, this.desc);
  }

  /**
   * Rows with start <= key < end (end empty: to the end of the keyspace), at most rowsMax rows
   * and about bytesMax bytes, each key's newest version (or with `at`, its newest at or below
   * `at`), tombstones skipped; RangeMismatch unless the span lies within this range.
   */
  scan(start: Uint8Array, end: Uint8Array, rowsMax: number, bytesMax: number, at?: bigint): { rows: ScanRow[]; more: boolean } {
    if (this.desc === undefined || !containsSpan(this.desc, start, end)) throw rangeMismatch(this.rangeId, this.desc);
    const readTs = at ?? newestTs;
    const { lower, upper } = userBounds(start, end);
    const rows: ScanRow[] = [];
    if (Buffer.compare(lower, upper) >= 0) return { rows, more: false };
    const it = this.engine.iterator({ lowerBound: lower, upperBound: upper });
    let bytes = 0;
    let decided: Buffer | undefined;
    try {
      for (it.seek(lower); it.valid(); it.next()) {
        const { key, ts } = decodeUserVersionKey(Buffer.from(it.key()));
        // Versions of one key come newest first: the first at or below readTs decides the key.
        if (ts > readTs || (decided !== undefined && decided.equals(key))) continue;
        decided = key;
        const value = decodeVersionValue(it.value());
        if (value === null) continue;
        if (rows.length >= rowsMax || bytes >= bytesMax) return { rows, more: true };
        const copy = Buffer.from(value);
        bytes += key.byteLength + copy.byteLength;
        rows.push({ key, value: copy });
      }
    } finally {
      it.close();
    }
    return { rows, more: false };
  }

  /**
   * An upper bound of the range's user bytes without walking it: the last measured size plus the
   * bytes written since; undefined when nothing was measured since start or the last split.
   */
  sizeUpperBound(): number | undefined {
    return this.measuredBytes === undefined ? undefined : this.measuredBytes + this.bytesSinceSizeCheck;
  }

  /**
   * The range's user bytes for placement: `sizeUpperBound()` when a walk measured it, else an
   * estimate from the engine's table indexes (no walk). A range that split or whose lease moved
   * has not been measured by its leader yet; reporting 0 for it would let its copy bypass the
   * placement driver's bandwidth budget.
   */
  sizeEstimate(): number {
    const bound = this.sizeUpperBound();
    if (bound !== undefined) return bound;
    const desc = this.desc;
    if (desc === undefined || desc.rangeId === metaRangeId) return 0;
    const { lower, upper } = userBounds(desc.startKey, desc.endKey);
    return Buffer.compare(lower, upper) < 0 ? this.engine.approximateSpanBytes(lower, upper) + this.bytesSinceSizeCheck : 0;
  }

  /**
   * The approximate user bytes of the range and a key near its middle (by bytes), walked on the
   * storage engine's niced export thread (a range is tens of MiB: not on the event loop).
   * undefined middle: fewer than two keys.
   */
  async sizeAndMiddle(): Promise<{ bytes: number; middle: Buffer | undefined }> {
    const desc = this.desc;
    if (desc === undefined || desc.rangeId === metaRangeId) return { bytes: 0, middle: undefined };
    const { lower, upper } = userBounds(desc.startKey, desc.endKey);
    if (Buffer.compare(lower, upper) >= 0) return { bytes: 0, middle: undefined };
    // One key per 16 entries, enough to pick a middle.
    const { bytes: total, samples } = await this.engine.sampleSpan(lower, upper, 16);
    const half = total / 2;
    const middle = samples.map((s) => ({ key: decodeUserVersionKey(s.key).key, bytes: s.bytesThrough })).find((s) => s.bytes >= half && !s.key.equals(desc.startKey))?.key;
    // Only if the range did not split meanwhile (the walk measured the span it had).
    if (this.desc === desc) this.measuredBytes = total;
    return { bytes: total, middle };
  }

  /**
   * Exports the range's replicated state (consistent at the current applied index) as SSTables
   * into `dir` (which must not exist): its range-local keys and the user keys of its span.
   */
  async exportSnapshot(dir: string): Promise<{ files: string[]; appliedIndex: number; descriptor: RangeDescriptor | undefined }> {
    const snapshot = this.engine.snapshot();
    try {
      // The applied index and descriptor as the engine snapshot holds them, not this object's
      // fields: an apply whose batch is already in the engine may not have updated them yet (the
      // replica applies durable entries while it writes the log), and a receiver checks that the
      // state it ingests is at the index the header names.
      const appliedBytes = this.engine.get(this.appliedKey, { snapshot });
      const appliedIndex = appliedBytes === undefined ? 0 : decodeU64(appliedBytes);
      const descBytes = this.engine.get(this.descKey, { snapshot });
      const descriptor = descBytes === undefined ? undefined : decodeDescriptor(descBytes);
      fs.mkdirSync(dir);
      const files: string[] = [];
      const parts: [string, Buffer, Buffer][] = [['local', rangeLocalStart(this.rangeId), rangeLocalEnd(this.rangeId)]];
      if (descriptor !== undefined && descriptor.rangeId !== metaRangeId) {
        const { lower, upper } = userBounds(descriptor.startKey, descriptor.endKey);
        parts.push(['user', lower, upper]);
      }
      for (const [name, lower, upper] of parts) {
        // Merged and encoded on the engine's niced export thread, off the event loop. Not
        // fsynced: the files are scratch, read once by the stream and deleted (a restart empties
        // the directory), and the receiver checks every block. Synced, each MiB moved went to the
        // disk once more, and its fsyncs queued ahead of the Raft log's (the clients' writes).
        const exported = await this.engine.exportSpan(lower, upper, path.join(dir, name), { snapshot, sync: false });
        for (const file of exported) {
          const target = path.join(dir, `${name}-${path.basename(file.path)}`);
          fs.renameSync(file.path, target);
          files.push(target);
        }
      }
      return { files, appliedIndex, descriptor };
    } finally {
      snapshot.release();
    }
  }

  /**
   * Step 1 of an install: deletes the range's local keys and the user keys of `span` (the
   * snapshot's span, and the one this replica had), durably (synced range tombstones).
   */
  async clearReplicatedState(spans: readonly { readonly startKey: Buffer; readonly endKey: Buffer }[]): Promise<void> {
    const clear = new WriteBatch();
    clear.delRange(rangeLocalStart(this.rangeId), rangeLocalEnd(this.rangeId));
    const plans: Promise<RangeDeletionPlan>[] = [];
    if (this.rangeId !== metaRangeId) {
      for (const span of spans) {
        const { lower, upper } = userBounds(span.startKey, span.endKey);
        if (Buffer.compare(lower, upper) < 0) {
          clear.delRange(lower, upper);
          // A dropped replica's span is tens of MiB: its keys are listed on the engine's export thread.
          plans.push(this.engine.planRangeDeletion(lower, upper));
        }
      }
    }
    await this.engine.write(clear, { sync: true, rangeDeletions: await Promise.all(plans) });
  }

  /**
   * Step 2 of an install: ingests the snapshot's SSTables (linked or copied: `files` stay in
   * place, so the step can be redone) and reloads the applied index, descriptor and records.
   */
  async ingestSnapshotFiles(files: readonly string[]): Promise<void> {
    await this.engine.ingest(files);
    this.reload();
    this.membersListener?.(this.members);
    this.lifecycleListener?.(this.lifecycles);
    const clusterVersion = this.clusterVersion();
    if (this.rangeId === metaRangeId && clusterVersion !== undefined) this.clusterVersionListener?.(clusterVersion);
  }

  /** Flushes the engine's memtables (every range's) to tables. */
  async flush(): Promise<void> {
    await this.engine.flush();
  }

  /**
   * Makes everything applied so far durable in the engine (before the Raft log is truncated):
   * its write-ahead log synced (StorageEngine.syncWrites), no table written.
   */
  async makeDurable(): Promise<void> {
    await this.engine.syncWrites();
  }

  /** Closes the engine (only for a state machine opened with `open`, in tests). */
  async close(): Promise<void> {
    await this.engine.close();
  }
}

function u64Bytes(value: bigint): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeBigUInt64BE(value, 0);
  return out;
}

function protectionKey(id: string): Buffer {
  return rangeLocalKey(metaRangeId, Buffer.concat([Buffer.from('pts/'), Buffer.from(id, 'utf8')]));
}

/** The answer of a replica that does not hold the key: its current descriptor, for the gateway. */
export function rangeMismatch(rangeId: number, desc: RangeDescriptor | undefined): KvError {
  return new KvError('PH_RANGE_MISMATCH', desc === undefined ? `range ${rangeId} is not initialised on this node` : `key outside range ${rangeId} (generation ${desc.generation})`);
}

/** The Raft configuration after the configuration changes among `entries` (refused ones change nothing). */
export function configAfter(config: ConfState, entries: readonly Entry[]): ConfState {
  let configuration = configFromConfState(config);
  for (const entry of entries) {
    if (entry.kind !== 'conf-change') continue;
    const result = applyConfChange(configuration, decodeConfChange(entry.data));
    if (result.ok) configuration = result.config;
  }
  return confStateOf(configuration);
}

/** A range's replicas as a Raft configuration has them: voters (of either half) first, then learners. */
function replicasOfConfiguration(config: Configuration): ReplicaDescriptor[] {
  const members = allMembers(config);
  return [...members.filter((id) => isVoter(config, id)).map((nodeId) => ({ nodeId, voter: true })), ...members.filter((id) => !isVoter(config, id)).map((nodeId) => ({ nodeId, voter: false }))];
}
