/**
 * The commands replicated through the Raft log, in a small binary form (no JSON on the hot path):
 *
 *   u8 op, then per op:
 *   put     u32 keyBytes, key, u32 valueBytes, value, u64 ts
 *   delete  u32 keyBytes, key, u64 ts
 *   cas     u32 keyBytes, key, u8 expectedPresent, [u32 expectedBytes, expected], u32 valueBytes, value, u64 ts
 *   members UTF-8 JSON of the address book ({"<nodeId>": {"raft": "host:port", "kv": "host:port"}})
 *   batch   u32 count, then per command: u32 bytes, an encoded command (not itself a batch)
 *   member-state  UTF-8 JSON {"nodeId": n, "state": "active" | "decommissioning" | "removed"}
 *   split   UTF-8 JSON {"rangeId": n, "generation": n, "splitKey": hex, "newRangeId": n, "replicas": [...]}
 *   meta-descriptors  UTF-8 JSON {"descriptors": [descriptor JSON, ...]} (meta range only)
 *   close-ts  u64 ts
 *   protect-ts  UTF-8 JSON {"id": s, "ts": decimal string, "reason": s, "expiresAtMs": n} (meta range only)
 *   release-ts  UTF-8 JSON {"id": s} (meta range only)
 *   cluster-version   UTF-8 JSON {"version": "MAJOR.MINOR.PATCH"} (meta range only; op 64)
 *   meta-record  u32 nameBytes, name (UTF-8), u8 present, [u32 valueBytes, value] (meta range only)
 *
 * `ts` of a write is the HLC timestamp (hlc.ts, packed) the range leader stamped it with when
 * proposing (0: none, tests); the state machine writes the version at max(ts, the range's last
 * write timestamp + 1), so versions of a range are ordered like the log whatever the leaders'
 * clocks did.
 * An empty entry (the new leader's no-op) carries no command. Decoding a malformed command is a
 * broken invariant (only this node's code proposes), so it asserts; an op this build does not
 * know is a format of a newer build (UnknownCommandFormatError), never guessed at.
 */
import { assert, assertNever } from '../assert.ts';
import { isVersion, type ClusterFeature, type FeatureGates } from '../version/version.ts';
import { descriptorFromJson, descriptorToJson, type RangeDescriptor, type ReplicaDescriptor } from './descriptor.ts';

/** How to reach a member: its Raft transport address and its KV API address ('' when not known yet). */
export interface MemberAddress {
  readonly raft: string;
  readonly kv: string;
}

export type Command =
  | { readonly op: 'put'; readonly key: Buffer; readonly value: Buffer; readonly ts?: bigint }
  | { readonly op: 'delete'; readonly key: Buffer; readonly ts?: bigint }
  | { readonly op: 'cas'; readonly key: Buffer; readonly expected: Buffer | null; readonly value: Buffer; readonly ts?: bigint }
  | { readonly op: 'members'; readonly members: ReadonlyMap<number, MemberAddress> }
  /** Several commands proposed as one entry (the host batches concurrent proposals). */
  | { readonly op: 'batch'; readonly commands: readonly Command[] }
  /** A member's lifecycle record (decommission started or cancelled; removed for good). */
  | { readonly op: 'member-state'; readonly nodeId: number; readonly state: MemberLifecycle }
  /**
   * Splits range `rangeId` (at `generation`) at `splitKey`: the left part keeps the id, the right
   * part [splitKey, end) becomes range `newRangeId` on `replicas`. Refused (no effect) when the
   * range changed generation since the proposal or the key is not strictly inside its span.
   */
  | { readonly op: 'split'; readonly rangeId: number; readonly generation: number; readonly splitKey: Buffer; readonly newRangeId: number; readonly replicas: readonly ReplicaDescriptor[] }
  /** Records range descriptors in the meta range (each kept only if not older than the one it has). */
  | { readonly op: 'meta-descriptors'; readonly descriptors: readonly RangeDescriptor[] }
  /** Raises the cluster version record of the meta range (never lowers it); see version/version.ts. */
  | { readonly op: 'cluster-version'; readonly version: string }
  /**
   * Closes timestamps up to `ts` in the range: every write applied after it gets a timestamp
   * above `ts`, so a read at `ts` that follows it sees a history that no longer changes.
   */
  | { readonly op: 'close-ts'; readonly ts: bigint }
  /** Records (or replaces) a protected timestamp in the meta range: GC keeps what a read at `ts` needs. */
  | { readonly op: 'protect-ts'; readonly protection: StoredProtection }
  /** Removes a protected timestamp from the meta range (unknown ids: no effect). */
  | { readonly op: 'release-ts'; readonly id: string }
  /**
   * Sets (value) or deletes (null) one named cluster-wide record in the meta range, e.g. a node's
   * liveness record (`liveness/<id>`) or its drain flag (`draining/<id>`). Other ranges ignore it.
   */
  | { readonly op: 'meta-record'; readonly name: string; readonly value: Buffer | null };

/** A protected timestamp as the meta range stores it (ts: a packed HLC timestamp). */
export interface StoredProtection {
  readonly id: string;
  readonly ts: bigint;
  readonly reason: string;
  /** Wall-clock ms (node clocks) after which the protection lapses by itself. */
  readonly expiresAtMs: number;
}

/**
 * The replicated lifecycle of a node id: 'decommissioning' while it is being moved out of the
 * configuration; 'removed' once it left, for good (node ids are never reused); 'active' clears
 * an unfinished decommission. 'removed' is final: later records for that id are ignored.
 */
export type MemberLifecycle = 'active' | 'decommissioning' | 'removed';

const lifecycles: ReadonlySet<string> = new Set<MemberLifecycle>(['active', 'decommissioning', 'removed']);

const opCodes = { put: 1, delete: 2, cas: 3, members: 4, batch: 5, 'member-state': 6, split: 7, 'meta-descriptors': 8, 'close-ts': 9, 'protect-ts': 10, 'release-ts': 11, 'meta-record': 20, 'cluster-version': 64 } as const;

/**
 * The feature (version/version.ts clusterFeatures) whose cluster version introduced each op's
 * format. A replica proposes a command only when the cluster version enables its op's feature
 * (commandRefusal), so an op added in a later version is never written while a node that cannot
 * decode it may still be a member. 'cluster-version' must stay in the baseline: it is how the
 * cluster version moves up. A new op gets a new feature named here; the compiler asks for it.
 */
export const commandFeatures = {
  put: 'baseline',
  delete: 'baseline',
  cas: 'baseline',
  members: 'baseline',
  batch: 'baseline',
  'member-state': 'baseline',
  split: 'baseline',
  'meta-descriptors': 'baseline',
  'close-ts': 'closedTimestamps',
  'protect-ts': 'protectedTimestamps',
  'release-ts': 'protectedTimestamps',
  'meta-record': 'metaRecords',
  'cluster-version': 'clusterVersionRecord',
} as const satisfies Record<Command['op'], ClusterFeature>;

/**
 * Why `command` may not be proposed under `gates` (its op's feature, or that of a command in a
 * batch, is introduced by a cluster version not finalized yet), or undefined when it may.
 * `features` maps ops to features (commandFeatures; tests pass others).
 */
export function commandRefusal<Feature extends string>(command: Command, gates: FeatureGates<Feature>, features: Readonly<Record<Command['op'], Feature>>): string | undefined {
  const commands = command.op === 'batch' ? command.commands : [command];
  for (const inner of commands) {
    const feature = features[inner.op];
    if (!gates.enabled(feature)) {
      return `command op '${inner.op}' (feature ${feature}) needs cluster version ${gates.introducedIn(feature)}, and the cluster version is ${gates.current()}: finish the rolling upgrade and finalize the cluster version first`;
    }
  }
  return undefined;
}

function u64(value: bigint): Buffer {
  assert(value >= 0n && value <= 0xffff_ffff_ffff_ffffn, 'a timestamp fits in 64 bits');
  const out = Buffer.allocUnsafe(8);
  out.writeBigUInt64BE(value, 0);
  return out;
}

/** Encodes a protection record (the command's and the meta range's stored form). */
export function protectionJson(protection: StoredProtection): string {
  return JSON.stringify({ id: protection.id, ts: protection.ts.toString(), reason: protection.reason, expiresAtMs: protection.expiresAtMs });
}

/** Inverse of protectionJson. */
export function parseProtection(json: string): StoredProtection {
  const parsed: unknown = JSON.parse(json);
  assert(typeof parsed === 'object' && parsed !== null, 'protection is an object');
  const { id, ts, reason, expiresAtMs } = parsed as Record<string, unknown>;
  assert(typeof id === 'string' && id.length > 0, 'protection id');
  assert(typeof ts === 'string' && /^[0-9]{1,20}$/.test(ts), 'protection ts');
  assert(typeof reason === 'string', 'protection reason');
  assert(typeof expiresAtMs === 'number' && Number.isSafeInteger(expiresAtMs), 'protection expiry');
  return { id, ts: BigInt(ts), reason, expiresAtMs };
}

/**
 * A committed command whose op this build does not know: a newer build wrote it (a format the
 * cluster version allowed, or a node that ran ahead of it). Never applied as anything else; the
 * replica stops with this error, naming the op.
 */
export class UnknownCommandFormatError extends Error {
  override readonly name = 'UnknownCommandFormatError';
  readonly code = 'PH_FORMAT_UNSUPPORTED';
}

function lengthPrefixed(parts: Buffer[], bytes: Buffer): void {
  const header = Buffer.allocUnsafe(4);
  header.writeUInt32BE(bytes.byteLength, 0);
  parts.push(header, bytes);
}

type KvWrite = Extract<Command, { op: 'put' | 'delete' | 'cas' }>;

const isKvWrite = (command: Command): command is KvWrite => command.op === 'put' || command.op === 'delete' || command.op === 'cas';

/** The encoded size of a put, delete or compare-and-set (see encodeKvWriteInto). */
function kvWriteBytes(command: KvWrite): number {
  switch (command.op) {
    case 'put':
      return 1 + 4 + command.key.byteLength + 4 + command.value.byteLength + 8;
    case 'delete':
      return 1 + 4 + command.key.byteLength + 8;
    case 'cas':
      return 1 + 4 + command.key.byteLength + 1 + (command.expected === null ? 0 : 4 + command.expected.byteLength) + 4 + command.value.byteLength + 8;
  }
}

function writeChunk(out: Buffer, at: number, bytes: Uint8Array): number {
  out.writeUInt32BE(bytes.byteLength, at);
  out.set(bytes, at + 4);
  return at + 4 + bytes.byteLength;
}

function writeStamp(out: Buffer, at: number, ts: bigint | undefined): number {
  const value = ts ?? 0n;
  assert(value >= 0n && value <= 0xffff_ffff_ffff_ffffn, 'a timestamp fits in 64 bits');
  out.writeBigUInt64BE(value, at);
  return at + 8;
}

/**
 * Writes a put, delete or compare-and-set at `at` in the same bytes as the general encoder
 * (op, length-prefixed fields, the stamp), with no intermediate buffers: the write path encodes
 * every proposed command, so it costs one allocation per entry instead of several per command.
 */
function encodeKvWriteInto(command: KvWrite, out: Buffer, at: number): number {
  out[at] = opCodes[command.op];
  let pos = writeChunk(out, at + 1, command.key);
  switch (command.op) {
    case 'put':
      pos = writeChunk(out, pos, command.value);
      break;
    case 'delete':
      break;
    case 'cas':
      out[pos++] = command.expected === null ? 0 : 1;
      if (command.expected !== null) pos = writeChunk(out, pos, command.expected);
      pos = writeChunk(out, pos, command.value);
      break;
  }
  return writeStamp(out, pos, command.ts);
}

export function encodeCommand(command: Command): Buffer {
  if (isKvWrite(command)) {
    const out = Buffer.allocUnsafe(kvWriteBytes(command));
    encodeKvWriteInto(command, out, 0);
    return out;
  }
  if (command.op === 'batch' && command.commands.every(isKvWrite)) {
    // The common batch (concurrent client writes proposed as one entry): one buffer, written once.
    const inner = command.commands as readonly KvWrite[];
    let bytes = 1 + 4;
    for (const write of inner) bytes += 4 + kvWriteBytes(write);
    const out = Buffer.allocUnsafe(bytes);
    out[0] = opCodes.batch;
    out.writeUInt32BE(inner.length, 1);
    let pos = 5;
    for (const write of inner) {
      const end = encodeKvWriteInto(write, out, pos + 4);
      out.writeUInt32BE(end - pos - 4, pos);
      pos = end;
    }
    assert(pos === bytes, 'a batch fills the bytes it was sized for');
    return out;
  }
  const parts: Buffer[] = [Buffer.from([opCodes[command.op]])];
  switch (command.op) {
    case 'close-ts':
      parts.push(u64(command.ts));
      break;
    case 'protect-ts':
      parts.push(Buffer.from(protectionJson(command.protection), 'utf8'));
      break;
    case 'release-ts':
      parts.push(Buffer.from(JSON.stringify({ id: command.id }), 'utf8'));
      break;
    case 'batch': {
      const count = Buffer.allocUnsafe(4);
      count.writeUInt32BE(command.commands.length, 0);
      parts.push(count);
      for (const inner of command.commands) {
        assert(inner.op !== 'batch', 'batches do not nest');
        lengthPrefixed(parts, encodeCommand(inner));
      }
      break;
    }
    case 'members':
      parts.push(Buffer.from(membersJson(command.members), 'utf8'));
      break;
    case 'member-state':
      parts.push(Buffer.from(JSON.stringify({ nodeId: command.nodeId, state: command.state }), 'utf8'));
      break;
    case 'split':
      parts.push(
        Buffer.from(
          JSON.stringify({ rangeId: command.rangeId, generation: command.generation, splitKey: command.splitKey.toString('hex'), newRangeId: command.newRangeId, replicas: command.replicas }),
          'utf8',
        ),
      );
      break;
    case 'meta-descriptors':
      parts.push(Buffer.from(JSON.stringify({ descriptors: command.descriptors.map(descriptorToJson) }), 'utf8'));
      break;
    case 'cluster-version':
      parts.push(Buffer.from(JSON.stringify({ version: command.version }), 'utf8'));
      break;
    case 'meta-record':
      lengthPrefixed(parts, Buffer.from(command.name, 'utf8'));
      parts.push(Buffer.from([command.value === null ? 0 : 1]));
      if (command.value !== null) lengthPrefixed(parts, command.value);
      break;
    default:
      assertNever(command, 'command');
  }
  return Buffer.concat(parts);
}

class Reader {
  private offset = 1;
  constructor(private readonly bytes: Buffer) {}

  u8(): number {
    assert(this.offset + 1 <= this.bytes.byteLength, 'command truncated');
    return this.bytes.readUInt8(this.offset++);
  }

  u32(): number {
    assert(this.offset + 4 <= this.bytes.byteLength, 'command truncated (count)');
    const value = this.bytes.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  chunk(): Buffer {
    assert(this.offset + 4 <= this.bytes.byteLength, 'command truncated (length)');
    const length = this.bytes.readUInt32BE(this.offset);
    this.offset += 4;
    assert(this.offset + length <= this.bytes.byteLength, 'command truncated (bytes)');
    const out = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  u64(): bigint {
    assert(this.offset + 8 <= this.bytes.byteLength, 'command truncated (u64)');
    const value = this.bytes.readBigUInt64BE(this.offset);
    this.offset += 8;
    return value;
  }

  rest(): Buffer {
    const out = this.bytes.subarray(this.offset);
    this.offset = this.bytes.byteLength;
    return out;
  }

  end(): void {
    assert(this.offset === this.bytes.byteLength, 'command has trailing bytes');
  }
}

export function decodeCommand(data: Uint8Array): Command {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  assert(bytes.byteLength > 0, 'empty command');
  const reader = new Reader(bytes);
  const op = bytes.readUInt8(0);
  let command: Command;
  if (op === opCodes.put) {
    const key = reader.chunk();
    const value = reader.chunk();
    const ts = reader.u64();
    // No spread of an optional field: every replica decodes every write.
    command = ts === 0n ? { op: 'put', key, value } : { op: 'put', key, value, ts };
  } else if (op === opCodes.delete) {
    const key = reader.chunk();
    const ts = reader.u64();
    command = ts === 0n ? { op: 'delete', key } : { op: 'delete', key, ts };
  } else if (op === opCodes.cas) {
    const key = reader.chunk();
    const expected = reader.u8() === 1 ? reader.chunk() : null;
    const value = reader.chunk();
    const ts = reader.u64();
    command = ts === 0n ? { op: 'cas', key, expected, value } : { op: 'cas', key, expected, value, ts };
  } else if (op === opCodes['close-ts']) {
    command = { op: 'close-ts', ts: reader.u64() };
  } else if (op === opCodes['protect-ts']) {
    command = { op: 'protect-ts', protection: parseProtection(reader.rest().toString('utf8')) };
  } else if (op === opCodes['release-ts']) {
    const parsed: unknown = JSON.parse(reader.rest().toString('utf8'));
    assert(typeof parsed === 'object' && parsed !== null && typeof (parsed as Record<string, unknown>).id === 'string', 'release-ts names an id');
    command = { op: 'release-ts', id: (parsed as Record<string, string>).id ?? '' };
  } else if (op === opCodes.batch) {
    const count = reader.u32();
    const commands: Command[] = [];
    for (let i = 0; i < count; i++) commands.push(decodeCommand(reader.chunk()));
    command = { op: 'batch', commands };
  } else if (op === opCodes.members) {
    command = { op: 'members', members: parseMembers(reader.rest().toString('utf8')) };
  } else if (op === opCodes['member-state']) {
    const parsed: unknown = JSON.parse(reader.rest().toString('utf8'));
    assert(typeof parsed === 'object' && parsed !== null, 'member-state is an object');
    const { nodeId, state } = parsed as Record<string, unknown>;
    assert(typeof nodeId === 'number' && Number.isSafeInteger(nodeId) && nodeId > 0, 'member-state names a node id');
    assert(typeof state === 'string' && lifecycles.has(state), 'member-state has a known state');
    command = { op: 'member-state', nodeId, state: state as MemberLifecycle };
  } else if (op === opCodes.split) {
    const parsed: unknown = JSON.parse(reader.rest().toString('utf8'));
    assert(typeof parsed === 'object' && parsed !== null, 'split is an object');
    const { rangeId, generation, splitKey, newRangeId, replicas } = parsed as Record<string, unknown>;
    assert(typeof rangeId === 'number' && typeof generation === 'number' && typeof newRangeId === 'number' && typeof splitKey === 'string', 'split fields');
    const desc = descriptorFromJson({ rangeId: newRangeId, start: splitKey, end: '', generation, replicas });
    command = { op: 'split', rangeId, generation, splitKey: desc.startKey, newRangeId, replicas: desc.replicas };
  } else if (op === opCodes['meta-descriptors']) {
    const parsed: unknown = JSON.parse(reader.rest().toString('utf8'));
    assert(typeof parsed === 'object' && parsed !== null && Array.isArray((parsed as Record<string, unknown>).descriptors), 'meta-descriptors is an object');
    command = { op: 'meta-descriptors', descriptors: ((parsed as Record<string, unknown>).descriptors as unknown[]).map(descriptorFromJson) };
  } else if (op === opCodes['cluster-version']) {
    const parsed: unknown = JSON.parse(reader.rest().toString('utf8'));
    assert(typeof parsed === 'object' && parsed !== null, 'cluster-version is an object');
    const { version } = parsed as Record<string, unknown>;
    assert(typeof version === 'string' && isVersion(version), 'cluster-version names a version');
    command = { op: 'cluster-version', version };
  } else if (op === opCodes['meta-record']) {
    const name = reader.chunk().toString('utf8');
    command = { op: 'meta-record', name, value: reader.u8() === 1 ? reader.chunk() : null };
  } else {
    throw new UnknownCommandFormatError(`committed command op ${op} is not known to this build (a newer PhantomDB wrote it): this node's binary is older than the cluster's data; upgrade it`);
  }
  reader.end();
  return command;
}

/** Parses an address book written by `membersJson`. */
export function parseMembers(json: string): Map<number, MemberAddress> {
  const parsed: unknown = JSON.parse(json);
  assert(typeof parsed === 'object' && parsed !== null, 'members is an object');
  const out = new Map<number, MemberAddress>();
  for (const [id, address] of Object.entries(parsed)) {
    assert(typeof address === 'object' && address !== null, 'member address is an object');
    const { raft, kv } = address as Record<string, unknown>;
    assert(typeof raft === 'string' && typeof kv === 'string', 'member addresses are strings');
    out.set(Number(id), { raft, kv });
  }
  return out;
}

export function membersJson(members: ReadonlyMap<number, MemberAddress>): string {
  return JSON.stringify(Object.fromEntries([...members].map(([id, address]) => [String(id), { raft: address.raft, kv: address.kv }])));
}
