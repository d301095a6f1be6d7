/**
 * The commands replicated through the Raft log, in a small binary form (no JSON on the hot path):
 *
 *   u8 op, then per op:
 *   put     u32 keyBytes, key, u32 valueBytes, value
 *   delete  u32 keyBytes, key
 *   cas     u32 keyBytes, key, u8 expectedPresent, [u32 expectedBytes, expected], u32 valueBytes, value
 *   members UTF-8 JSON of the address book ({"<nodeId>": {"raft": "host:port", "kv": "host:port"}})
 *   batch   u32 count, then per command: u32 bytes, an encoded command (not itself a batch)
 *   member-state  UTF-8 JSON {"nodeId": n, "state": "active" | "decommissioning" | "removed"}
 *
 * An empty entry (the new leader's no-op) carries no command. Decoding a malformed command is a
 * broken invariant (only this node's code proposes), so it asserts.
 */
import { assert, assertNever } from '../assert.ts';

/** How to reach a member: its Raft transport address and its KV API address ('' when not known yet). */
export interface MemberAddress {
  readonly raft: string;
  readonly kv: string;
}

export type Command =
  | { readonly op: 'put'; readonly key: Buffer; readonly value: Buffer }
  | { readonly op: 'delete'; readonly key: Buffer }
  | { readonly op: 'cas'; readonly key: Buffer; readonly expected: Buffer | null; readonly value: Buffer }
  | { readonly op: 'members'; readonly members: ReadonlyMap<number, MemberAddress> }
  /** Several commands proposed as one entry (the host batches concurrent proposals). */
  | { readonly op: 'batch'; readonly commands: readonly Command[] }
  /** A member's lifecycle record (decommission started or cancelled; removed for good). */
  | { readonly op: 'member-state'; readonly nodeId: number; readonly state: MemberLifecycle };

/**
 * The replicated lifecycle of a node id: 'decommissioning' while it is being moved out of the
 * configuration; 'removed' once it left, for good (node ids are never reused); 'active' clears
 * an unfinished decommission. 'removed' is final: later records for that id are ignored.
 */
export type MemberLifecycle = 'active' | 'decommissioning' | 'removed';

const lifecycles: ReadonlySet<string> = new Set<MemberLifecycle>(['active', 'decommissioning', 'removed']);

const opCodes = { put: 1, delete: 2, cas: 3, members: 4, batch: 5, 'member-state': 6 } as const;

function lengthPrefixed(parts: Buffer[], bytes: Buffer): void {
  const header = Buffer.allocUnsafe(4);
  header.writeUInt32BE(bytes.byteLength, 0);
  parts.push(header, bytes);
}

export function encodeCommand(command: Command): Buffer {
  const parts: Buffer[] = [Buffer.from([opCodes[command.op]])];
  switch (command.op) {
    case 'put':
      lengthPrefixed(parts, command.key);
      lengthPrefixed(parts, command.value);
      break;
    case 'delete':
      lengthPrefixed(parts, command.key);
      break;
    case 'cas':
      lengthPrefixed(parts, command.key);
      parts.push(Buffer.from([command.expected === null ? 0 : 1]));
      if (command.expected !== null) lengthPrefixed(parts, command.expected);
      lengthPrefixed(parts, command.value);
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
    command = { op: 'put', key: reader.chunk(), value: reader.chunk() };
  } else if (op === opCodes.delete) {
    command = { op: 'delete', key: reader.chunk() };
  } else if (op === opCodes.cas) {
    const key = reader.chunk();
    const expected = reader.u8() === 1 ? reader.chunk() : null;
    command = { op: 'cas', key, expected, value: reader.chunk() };
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
  } else {
    assert(false, `unknown command op ${op}`);
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
