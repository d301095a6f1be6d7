/**
 * The replicated KV state machine of one range (today: the whole keyspace) on top of the
 * storage engine. The Raft log is its write-ahead log: committed entries are applied with
 * sync:false together with the applied index (in the same batch, under a reserved key), so a
 * restart knows where to resume replaying the log; before the Raft log is compacted below the
 * applied index the engine is flushed.
 *
 * Key layout (all replicated state lives under the 0x01 prefix, so a snapshot is one range):
 *   0x01 0x00 "applied"     the applied Raft index (u64 big-endian)
 *   0x01 0x00 "members"     the address book (JSON {"<nodeId>": {"raft": "host:port", "kv": "host:port"}})
 *   0x01 0x00 "lifecycle"   member lifecycle records (JSON {"decommissioning": [ids], "removed": [ids]})
 *   0x01 0x01 <user key>    user data
 */
import { assert, assertNever } from '../assert.ts';
import type { Entry } from '../raft/types.ts';
import { StorageEngine, WriteBatch } from '../storage/engine.ts';
import { decodeCommand, membersJson, parseMembers, type Command, type MemberAddress } from './command.ts';

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

function lifecyclesJson(lifecycles: MemberLifecycles): string {
  return JSON.stringify({ decommissioning: [...lifecycles.decommissioning].sort((a, b) => a - b), removed: [...lifecycles.removed].sort((a, b) => a - b) });
}

const replicatedStart = Buffer.from([0x01]);
const replicatedEnd = Buffer.from([0x02]);
const appliedKey = Buffer.from('\x01\x00applied', 'latin1');
const membersKey = Buffer.from('\x01\x00members', 'latin1');
const lifecycleKey = Buffer.from('\x01\x00lifecycle', 'latin1');
const userPrefix = Buffer.from([0x01, 0x01]);
const userEnd = Buffer.from([0x01, 0x02]);

export function userKey(key: Uint8Array): Buffer {
  return Buffer.concat([userPrefix, key]);
}

function encodeIndex(index: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(index), 0);
  return out;
}

export type ApplyResult =
  | { readonly op: 'noop' }
  | { readonly op: 'put' }
  | { readonly op: 'delete'; readonly existed: boolean }
  | { readonly op: 'cas'; readonly ok: boolean; readonly current: Buffer | null }
  | { readonly op: 'members' }
  | { readonly op: 'member-state' }
  | { readonly op: 'batch'; readonly results: readonly ApplyResult[] }
  | { readonly op: 'conf-change' };

export interface ScanRow {
  readonly key: Buffer;
  readonly value: Buffer;
}

export class KvStateMachine {
  private applied: number;
  private members: Map<number, MemberAddress>;
  private lifecycles: MemberLifecycles;
  private lifecycleListener: ((lifecycles: MemberLifecycles) => void) | undefined;
  private membersListener: ((members: ReadonlyMap<number, MemberAddress>) => void) | undefined;

  private constructor(readonly engine: StorageEngine) {
    const appliedBytes = engine.get(appliedKey);
    this.applied = appliedBytes === undefined ? 0 : Number(appliedBytes.readBigUInt64BE(0));
    const membersBytes = engine.get(membersKey);
    this.members = membersBytes === undefined ? new Map() : parseMembers(membersBytes.toString('utf8'));
    this.lifecycles = parseLifecycles(engine.get(lifecycleKey));
  }

  static async open(dir: string): Promise<KvStateMachine> {
    // The Raft log is the durable record of replicated writes: the engine need not fsync them.
    const engine = await StorageEngine.open(dir, { syncWritesByDefault: false });
    return new KvStateMachine(engine);
  }

  appliedIndex(): number {
    return this.applied;
  }

  /** The replicated address book (node id → gRPC address), as of the applied index. */
  memberAddresses(): ReadonlyMap<number, MemberAddress> {
    return this.members;
  }

  /** The replicated lifecycle records (decommissioning and removed ids), as of the applied index. */
  memberLifecycles(): MemberLifecycles {
    return this.lifecycles;
  }

  /** Called after the lifecycle records changed (applied or installed with a snapshot). */
  onLifecyclesChanged(listener: (lifecycles: MemberLifecycles) => void): void {
    this.lifecycleListener = listener;
  }

  /** Called after the address book changed (applied or installed with a snapshot). */
  onMembersChanged(listener: (members: ReadonlyMap<number, MemberAddress>) => void): void {
    this.membersListener = listener;
  }

  /**
   * Applies committed entries in one engine batch (unsynced) with the new applied index.
   * Entries at or below the applied index (replayed after a snapshot was installed ahead of the
   * log) are skipped and answer undefined.
   */
  async apply(entries: readonly Entry[]): Promise<(ApplyResult | undefined)[]> {
    const batch = new WriteBatch();
    const overlay = new Map<string, Buffer | null>();
    const results: (ApplyResult | undefined)[] = [];
    // Captured before applying: applyCommand replaces these objects when they change.
    const membersBefore = this.members;
    const lifecyclesBefore = this.lifecycles;
    let last = this.applied;
    for (const entry of entries) {
      if (entry.index <= this.applied) {
        results.push(undefined);
        continue;
      }
      assert(entry.index > last, 'committed entries are applied in order');
      last = entry.index;
      if (entry.kind === 'conf-change') results.push({ op: 'conf-change' });
      else if (entry.data.byteLength === 0) results.push({ op: 'noop' });
      else results.push(this.applyCommand(decodeCommand(entry.data), batch, overlay));
    }
    if (last === this.applied) return results;
    batch.put(appliedKey, encodeIndex(last));
    await this.engine.write(batch, { sync: false });
    this.applied = last;
    if (this.members !== membersBefore) this.membersListener?.(this.members);
    if (this.lifecycles !== lifecyclesBefore) this.lifecycleListener?.(this.lifecycles);
    return results;
  }

  private applyCommand(command: Command, batch: WriteBatch, overlay: Map<string, Buffer | null>): ApplyResult {
    const read = (key: Buffer): Buffer | null => {
      const cached = overlay.get(key.toString('latin1'));
      if (cached !== undefined) return cached;
      return this.engine.get(key) ?? null;
    };
    const write = (key: Buffer, value: Buffer | null): void => {
      overlay.set(key.toString('latin1'), value);
      if (value === null) batch.del(key);
      else batch.put(key, value);
    };
    switch (command.op) {
      case 'put':
        write(userKey(command.key), command.value);
        return { op: 'put' };
      case 'delete': {
        const key = userKey(command.key);
        const existed = read(key) !== null;
        if (existed) write(key, null);
        return { op: 'delete', existed };
      }
      case 'cas': {
        const key = userKey(command.key);
        const current = read(key);
        const ok = command.expected === null ? current === null : current !== null && current.equals(command.expected);
        if (ok) write(key, command.value);
        return { op: 'cas', ok, current };
      }
      case 'batch':
        return { op: 'batch', results: command.commands.map((inner) => this.applyCommand(inner, batch, overlay)) };
      case 'members': {
        const merged = new Map(this.members);
        for (const [id, address] of command.members) merged.set(id, address);
        this.members = merged;
        batch.put(membersKey, Buffer.from(membersJson(merged), 'utf8'));
        return { op: 'members' };
      }
      case 'member-state': {
        const decommissioning = new Set(this.lifecycles.decommissioning);
        const removed = new Set(this.lifecycles.removed);
        // Removal is final: a late 'active' or 'decommissioning' for a removed id changes nothing.
        if (!removed.has(command.nodeId)) {
          decommissioning.delete(command.nodeId);
          if (command.state === 'decommissioning') decommissioning.add(command.nodeId);
          if (command.state === 'removed') removed.add(command.nodeId);
        }
        this.lifecycles = { decommissioning, removed };
        batch.put(lifecycleKey, Buffer.from(lifecyclesJson(this.lifecycles), 'utf8'));
        return { op: 'member-state' };
      }
      default:
        return assertNever(command, 'command');
    }
  }

  get(key: Uint8Array): Buffer | undefined {
    return this.engine.get(userKey(key));
  }

  /** Rows with start <= key < end (end empty: to the end), at most rowsMax rows and about bytesMax bytes. */
  scan(start: Uint8Array, end: Uint8Array, rowsMax: number, bytesMax: number): { rows: ScanRow[]; more: boolean } {
    const lower = userKey(start);
    const upper = end.byteLength === 0 ? userEnd : userKey(end);
    const rows: ScanRow[] = [];
    if (Buffer.compare(lower, upper) >= 0) return { rows, more: false };
    const it = this.engine.iterator({ lowerBound: lower, upperBound: upper });
    let bytes = 0;
    try {
      for (it.seek(lower); it.valid(); it.next()) {
        if (rows.length >= rowsMax || bytes >= bytesMax) return { rows, more: true };
        const key = Buffer.from(it.key().subarray(userPrefix.byteLength));
        const value = Buffer.from(it.value());
        bytes += key.byteLength + value.byteLength;
        rows.push({ key, value });
      }
    } finally {
      it.close();
    }
    return { rows, more: false };
  }

  /**
   * Exports the replicated state (consistent at the current applied index) as SSTables into
   * `dir` (which must not exist). Returns the files and the applied index they hold.
   */
  async exportSnapshot(dir: string): Promise<{ files: string[]; appliedIndex: number }> {
    const snapshot = this.engine.snapshot();
    try {
      const appliedIndex = this.applied;
      const files = await this.engine.exportRange(replicatedStart, replicatedEnd, dir, { snapshot });
      return { files: files.map((f) => f.path), appliedIndex };
    } finally {
      snapshot.release();
    }
  }

  /**
   * Replaces the replicated state with the exported SSTables `files` (from another replica's
   * exportSnapshot). Only called with a snapshot ahead of the local applied index. Not atomic
   * across a crash on its own: node/snapshot-install.ts stages the files and records an install
   * marker first, so that a restart redoes both steps (each is idempotent).
   */
  async installSnapshot(files: readonly string[]): Promise<void> {
    await this.clearReplicatedState();
    await this.ingestSnapshotFiles(files);
  }

  /** Step 1 of an install: deletes every replicated key, durably (a synced range tombstone). */
  async clearReplicatedState(): Promise<void> {
    const clear = new WriteBatch();
    clear.delRange(replicatedStart, replicatedEnd);
    await this.engine.write(clear, { sync: true });
  }

  /**
   * Step 2 of an install: ingests the snapshot's SSTables (linked or copied: `files` stay in
   * place, so the step can be redone) and reloads the applied index and member records from them.
   */
  async ingestSnapshotFiles(files: readonly string[]): Promise<void> {
    await this.engine.ingest(files);
    this.reloadReplicatedMetadata();
  }

  private reloadReplicatedMetadata(): void {
    const appliedBytes = this.engine.get(appliedKey);
    this.applied = appliedBytes === undefined ? 0 : Number(appliedBytes.readBigUInt64BE(0));
    const membersBytes = this.engine.get(membersKey);
    this.members = membersBytes === undefined ? new Map() : parseMembers(membersBytes.toString('utf8'));
    this.lifecycles = parseLifecycles(this.engine.get(lifecycleKey));
    this.membersListener?.(this.members);
    this.lifecycleListener?.(this.lifecycles);
  }

  /** Makes everything applied so far durable in the engine (before the Raft log is truncated). */
  async flush(): Promise<void> {
    await this.engine.flush();
  }

  async close(): Promise<void> {
    await this.engine.close();
  }
}
