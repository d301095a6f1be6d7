/**
 * The binary wire format of node-to-node Raft traffic: one frame carries many messages (of many
 * groups) from one node to one other node.
 *
 * Frame, protocol version 1 (integers big-endian; `varint` is unsigned LEB128, canonical, at most
 * 8 bytes and at most Number.MAX_SAFE_INTEGER; `string` is a varint byte length + UTF-8):
 *
 *   offset 0   u32  magic 0x50485254 ('PHRT')
 *          4   u16  protocolVersion
 *          6   u16  flags (must be 0 in version 1)
 *          8   u32  masked CRC-32C of every byte from offset 12 to the end
 *         12   string clusterId, varint senderNodeId, varint recipientNodeId, varint messageCount,
 *              then messageCount messages.
 *
 * Protocol version 2 adds one wire code: 13, a Heartbeat marked `quiesce` (same body as a
 * Heartbeat). A version-1 frame carries a quiesce heartbeat as a plain Heartbeat (code 7): a
 * version-1 follower keeps its election timer running, and its eventual campaign wakes the leader.
 *
 * Every message in a frame has `from` = sender and `to` = recipient, so those two are written
 * once per frame instead of once per message. A message is
 *   u8 kind, varint groupId, varint term, then the kind's fields (see `writeMessageBody`).
 * Append entries carry no index: entry i has index prevLogIndex + 1 + i, so a frame cannot
 * express a log with gaps.
 *
 * Decoding is defensive: every length and count is checked against both the configured limits
 * and the bytes actually left before anything is allocated, so memory stays proportional to the
 * input; any violation throws a TransportProtocolError and nothing else (see codec.fuzz.test.ts).
 */
import { assert, assertNever } from '../assert.ts';
import type { ConfState, Entry, EntryKind, Message, MessageKind, NodeId, SnapshotMeta } from '../raft/types.ts';
import { crc32c, maskCrc, unmaskCrc } from '../storage/crc32c.ts';
import { TransportProtocolError, type TransportErrorCode } from './errors.ts';

export const frameMagic = 0x50485254;
/** The protocol versions this build can encode and decode. */
export const protocolVersionMin = 1;
export const protocolVersionMax = 2;
/** Wire code of a Heartbeat with `quiesce` set (protocol version 2 and later). */
export const quiesceHeartbeatCode = 13;
/** Bytes before the variable part of the header: magic, version, flags, checksum. */
export const frameFixedHeaderBytes = 12;

export interface CodecLimits {
  /** Largest encoded frame accepted or produced, in bytes. */
  readonly frameBytesMax: number;
  /** Most messages one frame may carry. */
  readonly messagesPerFrameMax: number;
  /** Longest clusterId, context or snapshot reference, in UTF-8 bytes. */
  readonly stringBytesMax: number;
}

export const defaultCodecLimits: CodecLimits = {
  frameBytesMax: 16 * 1024 * 1024,
  messagesPerFrameMax: 16_384,
  stringBytesMax: 4096,
};

/** Asserts that limits are usable; call on configuration, not per frame. */
export function checkCodecLimits(limits: CodecLimits): void {
  assert(Number.isSafeInteger(limits.frameBytesMax), 'frameBytesMax is an integer');
  assert(limits.frameBytesMax >= 64, 'frameBytesMax leaves room for a header');
  assert(limits.frameBytesMax <= 2 ** 31 - 1, 'frameBytesMax fits a gRPC message');
  assert(Number.isSafeInteger(limits.messagesPerFrameMax), 'messagesPerFrameMax is an integer');
  assert(limits.messagesPerFrameMax > 0, 'messagesPerFrameMax is positive');
  assert(Number.isSafeInteger(limits.stringBytesMax), 'stringBytesMax is an integer');
  assert(limits.stringBytesMax > 0, 'stringBytesMax is positive');
}

export interface FrameHeader {
  readonly protocolVersion: number;
  readonly clusterId: string;
  readonly senderNodeId: NodeId;
  readonly recipientNodeId: NodeId;
}

export interface Frame {
  readonly header: FrameHeader;
  readonly messages: Message[];
}

/** Wire codes of the message kinds. Codes are never reused; a new kind needs a new code. */
export const messageKindCodes: Readonly<Record<MessageKind, number>> = {
  Vote: 1,
  PreVote: 2,
  VoteResponse: 3,
  PreVoteResponse: 4,
  Append: 5,
  AppendResponse: 6,
  Heartbeat: 7,
  HeartbeatResponse: 8,
  Snapshot: 9,
  TimeoutNow: 10,
  ReadIndex: 11,
  ReadIndexResponse: 12,
};
const kindsByCode: ReadonlyMap<number, MessageKind> = new Map(
  (Object.entries(messageKindCodes) as [MessageKind, number][]).map(([kind, code]) => [code, kind]),
);
export const messageKinds: readonly MessageKind[] = [...kindsByCode.values()];

const entryKindCodes: Readonly<Record<EntryKind, number>> = { normal: 0, 'conf-change': 1 };

// ---------------------------------------------------------------------------------------------
// Sizes. Exact, so that a frame is allocated once and the transport can split batches precisely.

function varintBytes(value: number): number {
  let bytes = 1;
  let rest = value;
  while (rest >= 128) {
    rest = Math.floor(rest / 128);
    bytes++;
  }
  return bytes;
}

function stringBytes(value: string): number {
  const length = Buffer.byteLength(value, 'utf8');
  return varintBytes(length) + length;
}

function idListBytes(ids: readonly NodeId[]): number {
  let bytes = varintBytes(ids.length);
  for (const id of ids) bytes += varintBytes(id);
  return bytes;
}

function confStateBytes(conf: ConfState): number {
  return idListBytes(conf.voters) + idListBytes(conf.votersOutgoing) + idListBytes(conf.learners) + idListBytes(conf.learnersNext) + 1;
}

function entriesBytes(entries: readonly Entry[]): number {
  let bytes = varintBytes(entries.length);
  for (const entry of entries) bytes += varintBytes(entry.term) + 1 + varintBytes(entry.data.byteLength) + entry.data.byteLength;
  return bytes;
}

/** The exact number of bytes `message` takes inside a frame. */
export function messageEncodedBytes(message: Message): number {
  const base = 1 + varintBytes(message.groupId) + varintBytes(message.term);
  switch (message.kind) {
    case 'Vote':
    case 'PreVote':
      return base + varintBytes(message.lastLogIndex) + varintBytes(message.lastLogTerm) + 1;
    case 'VoteResponse':
    case 'PreVoteResponse':
      return base + 1;
    case 'Append':
      return base + varintBytes(message.prevLogIndex) + varintBytes(message.prevLogTerm) + varintBytes(message.commit) + entriesBytes(message.entries);
    case 'AppendResponse':
      return base + 1 + varintBytes(message.index) + varintBytes(message.hintIndex) + varintBytes(message.hintTerm);
    case 'Heartbeat':
      return base + varintBytes(message.commit) + stringBytes(message.context) + varintBytes(message.sentTick);
    case 'HeartbeatResponse':
      return base + stringBytes(message.context) + varintBytes(message.sentTick);
    case 'Snapshot':
      return base + varintBytes(message.snapshot.index) + varintBytes(message.snapshot.term) + confStateBytes(message.snapshot.confState) + stringBytes(message.snapshot.reference);
    case 'TimeoutNow':
      return base;
    case 'ReadIndex':
      return base + stringBytes(message.context);
    case 'ReadIndexResponse':
      return base + varintBytes(message.index) + stringBytes(message.context);
    default:
      return assertNever(message, 'message kind');
  }
}

/** The exact bytes of a frame header (everything before the first message). */
export function frameHeaderBytes(header: FrameHeader, messageCount: number): number {
  return frameFixedHeaderBytes + stringBytes(header.clusterId) + varintBytes(header.senderNodeId) + varintBytes(header.recipientNodeId) + varintBytes(messageCount);
}

// ---------------------------------------------------------------------------------------------
// Encoding.

class FrameWriter {
  offset = 0;
  constructor(readonly buffer: Buffer) {}

  u8(value: number): void {
    this.buffer[this.offset++] = value;
  }

  bool(value: boolean): void {
    this.u8(value ? 1 : 0);
  }

  varint(value: number): void {
    assert(Number.isSafeInteger(value), `wire integer is a safe integer, got ${value}`);
    assert(value >= 0, `wire integer is not negative, got ${value}`);
    let rest = value;
    while (rest >= 128) {
      this.buffer[this.offset++] = (rest % 128) | 128;
      rest = Math.floor(rest / 128);
    }
    this.buffer[this.offset++] = rest;
  }

  string(value: string): void {
    const length = Buffer.byteLength(value, 'utf8');
    this.varint(length);
    this.offset += this.buffer.write(value, this.offset, 'utf8');
  }

  bytes(value: Uint8Array): void {
    this.varint(value.byteLength);
    this.buffer.set(value, this.offset);
    this.offset += value.byteLength;
  }

  idList(ids: readonly NodeId[]): void {
    this.varint(ids.length);
    for (const id of ids) this.varint(id);
  }
}

function writeEntries(writer: FrameWriter, message: Extract<Message, { kind: 'Append' }>): void {
  writer.varint(message.entries.length);
  let expectedIndex = message.prevLogIndex + 1;
  let previousTerm = message.prevLogTerm;
  for (const entry of message.entries) {
    // The core only ever sends contiguous, term-ordered entries; the format relies on it.
    assert(entry.index === expectedIndex, `append entries are contiguous: expected ${expectedIndex}, got ${entry.index}`);
    assert(entry.term >= previousTerm, 'append entry terms do not decrease');
    assert(entry.term <= message.term, 'append entry terms do not exceed the message term');
    writer.varint(entry.term);
    writer.u8(entryKindCodes[entry.kind]);
    writer.bytes(entry.data);
    expectedIndex++;
    previousTerm = entry.term;
  }
}

function writeMessageBody(writer: FrameWriter, message: Message): void {
  switch (message.kind) {
    case 'Vote':
    case 'PreVote':
      writer.varint(message.lastLogIndex);
      writer.varint(message.lastLogTerm);
      writer.bool(message.transfer);
      return;
    case 'VoteResponse':
    case 'PreVoteResponse':
      writer.bool(message.reject);
      return;
    case 'Append':
      writer.varint(message.prevLogIndex);
      writer.varint(message.prevLogTerm);
      writer.varint(message.commit);
      writeEntries(writer, message);
      return;
    case 'AppendResponse':
      writer.bool(message.reject);
      writer.varint(message.index);
      writer.varint(message.hintIndex);
      writer.varint(message.hintTerm);
      return;
    case 'Heartbeat':
      writer.varint(message.commit);
      writer.string(message.context);
      writer.varint(message.sentTick);
      return;
    case 'HeartbeatResponse':
      writer.string(message.context);
      writer.varint(message.sentTick);
      return;
    case 'Snapshot':
      writeSnapshot(writer, message.snapshot);
      return;
    case 'TimeoutNow':
      return;
    case 'ReadIndex':
      writer.string(message.context);
      return;
    case 'ReadIndexResponse':
      writer.varint(message.index);
      writer.string(message.context);
      return;
    default:
      assertNever(message, 'message kind');
  }
}

function writeSnapshot(writer: FrameWriter, snapshot: SnapshotMeta): void {
  writer.varint(snapshot.index);
  writer.varint(snapshot.term);
  writer.idList(snapshot.confState.voters);
  writer.idList(snapshot.confState.votersOutgoing);
  writer.idList(snapshot.confState.learners);
  writer.idList(snapshot.confState.learnersNext);
  writer.bool(snapshot.confState.autoLeave);
  writer.string(snapshot.reference);
}

/**
 * Encodes `messages` into one frame. Every message must have from = header.senderNodeId and
 * to = header.recipientNodeId (the transport groups by destination before calling this); the
 * frame must fit `limits` (callers split batches with `messageEncodedBytes`). Violations are
 * programming errors and fail an assertion.
 */
export function encodeFrame(header: FrameHeader, messages: readonly Message[], limits: CodecLimits = defaultCodecLimits): Buffer {
  assert(header.protocolVersion >= protocolVersionMin, `cannot encode protocol version ${header.protocolVersion}`);
  assert(header.protocolVersion <= protocolVersionMax, `cannot encode protocol version ${header.protocolVersion}`);
  assert(header.senderNodeId > 0, 'sender node id is positive');
  assert(header.recipientNodeId > 0, 'recipient node id is positive');
  assert(header.senderNodeId !== header.recipientNodeId, 'a node never sends frames to itself');
  assert(messages.length <= limits.messagesPerFrameMax, `frame holds at most ${limits.messagesPerFrameMax} messages`);
  let total = frameHeaderBytes(header, messages.length);
  for (const message of messages) total += messageEncodedBytes(message);
  assert(total <= limits.frameBytesMax, `frame of ${total} bytes exceeds frameBytesMax ${limits.frameBytesMax}`);

  const writer = new FrameWriter(Buffer.allocUnsafe(total));
  writer.buffer.writeUInt32BE(frameMagic, 0);
  writer.buffer.writeUInt16BE(header.protocolVersion, 4);
  writer.buffer.writeUInt16BE(0, 6);
  writer.offset = frameFixedHeaderBytes;
  writer.string(header.clusterId);
  writer.varint(header.senderNodeId);
  writer.varint(header.recipientNodeId);
  writer.varint(messages.length);
  for (const message of messages) {
    assert(message.from === header.senderNodeId, `message from ${message.from} in a frame from ${header.senderNodeId}`);
    assert(message.to === header.recipientNodeId, `message to ${message.to} in a frame to ${header.recipientNodeId}`);
    const quiesce = message.kind === 'Heartbeat' && message.quiesce === true && header.protocolVersion >= 2;
    writer.u8(quiesce ? quiesceHeartbeatCode : messageKindCodes[message.kind]);
    writer.varint(message.groupId);
    writer.varint(message.term);
    writeMessageBody(writer, message);
  }
  assert(writer.offset === total, `frame size computed ${total}, written ${writer.offset}`);
  writer.buffer.writeUInt32BE(maskCrc(crc32c(writer.buffer, frameFixedHeaderBytes, total)), 8);
  return writer.buffer;
}

// ---------------------------------------------------------------------------------------------
// Decoding.

const utf8 = new TextDecoder('utf-8', { fatal: true });

function fail(code: TransportErrorCode, reason: string, detail: string): never {
  throw new TransportProtocolError(code, reason, detail);
}

class FrameReader {
  offset: number;
  constructor(
    readonly bytes: Uint8Array,
    start: number,
    readonly limits: CodecLimits,
  ) {
    this.offset = start;
  }

  remaining(): number {
    return this.bytes.byteLength - this.offset;
  }

  u8(what: string): number {
    const value = this.bytes[this.offset];
    if (value === undefined) fail('PH_TRANSPORT_MALFORMED_FRAME', 'truncated', `frame ends inside ${what} at offset ${this.offset}`);
    this.offset++;
    return value;
  }

  bool(what: string): boolean {
    const value = this.u8(what);
    if (value > 1) fail('PH_TRANSPORT_MALFORMED_FRAME', 'bad-bool', `${what} is ${value}, not 0 or 1`);
    return value === 1;
  }

  varint(what: string): number {
    const start = this.offset;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const byte = this.u8(what);
      value += (byte & 127) * scale;
      if ((byte & 128) === 0) {
        if (byte === 0 && i > 0) fail('PH_TRANSPORT_MALFORMED_FRAME', 'overlong-varint', `${what} at offset ${start} is not canonical`);
        if (value > Number.MAX_SAFE_INTEGER) fail('PH_TRANSPORT_MALFORMED_FRAME', 'varint-range', `${what} at offset ${start} exceeds 2^53-1`);
        return value;
      }
      scale *= 128;
    }
    return fail('PH_TRANSPORT_MALFORMED_FRAME', 'varint-range', `${what} at offset ${start} is longer than 8 bytes`);
  }

  /** A count of items each taking at least `itemBytesMin` bytes; checked before anything is allocated. */
  count(what: string, itemBytesMin: number, countMax: number): number {
    const value = this.varint(what);
    if (value > countMax) fail('PH_TRANSPORT_LIMIT_EXCEEDED', 'count-limit', `${what} is ${value}, limit ${countMax}`);
    if (value * itemBytesMin > this.remaining()) fail('PH_TRANSPORT_MALFORMED_FRAME', 'truncated', `${what} is ${value} but only ${this.remaining()} bytes remain`);
    return value;
  }

  nodeId(what: string): NodeId {
    const value = this.varint(what);
    if (value === 0) fail('PH_TRANSPORT_MALFORMED_FRAME', 'zero-node-id', `${what} is 0`);
    return value;
  }

  rawBytes(what: string, length: number): Uint8Array {
    if (length > this.remaining()) fail('PH_TRANSPORT_MALFORMED_FRAME', 'truncated', `${what} needs ${length} bytes, ${this.remaining()} remain`);
    // A copy, so that a retained entry does not pin the whole frame (and the gRPC buffer) in
    // memory. (Buffer#slice would not copy, hence the explicit one.)
    const value = new Uint8Array(length);
    value.set(this.bytes.subarray(this.offset, this.offset + length));
    this.offset += length;
    return value;
  }

  string(what: string): string {
    const length = this.varint(what);
    if (length > this.limits.stringBytesMax) fail('PH_TRANSPORT_LIMIT_EXCEEDED', 'string-limit', `${what} is ${length} bytes, limit ${this.limits.stringBytesMax}`);
    if (length > this.remaining()) fail('PH_TRANSPORT_MALFORMED_FRAME', 'truncated', `${what} needs ${length} bytes, ${this.remaining()} remain`);
    const view = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    try {
      return utf8.decode(view);
    } catch {
      return fail('PH_TRANSPORT_MALFORMED_FRAME', 'bad-utf8', `${what} is not valid UTF-8`);
    }
  }

  idList(what: string): NodeId[] {
    const length = this.count(what, 1, Number.MAX_SAFE_INTEGER);
    const ids: NodeId[] = [];
    for (let i = 0; i < length; i++) ids.push(this.nodeId(what));
    return ids;
  }
}

function readEntries(reader: FrameReader, term: number, prevLogIndex: number, prevLogTerm: number): Entry[] {
  const count = reader.count('entry count', 3, Number.MAX_SAFE_INTEGER);
  if (prevLogIndex + count > Number.MAX_SAFE_INTEGER) fail('PH_TRANSPORT_MALFORMED_FRAME', 'varint-range', 'entry index exceeds 2^53-1');
  const entries: Entry[] = [];
  let previousTerm = prevLogTerm;
  for (let i = 0; i < count; i++) {
    const entryTerm = reader.varint('entry term');
    if (entryTerm < previousTerm) fail('PH_TRANSPORT_MALFORMED_FRAME', 'entry-term-order', `entry term ${entryTerm} after ${previousTerm}`);
    if (entryTerm > term) fail('PH_TRANSPORT_MALFORMED_FRAME', 'entry-term-order', `entry term ${entryTerm} above message term ${term}`);
    const kindCode = reader.u8('entry kind');
    const kind: EntryKind | undefined = kindCode === 0 ? 'normal' : kindCode === 1 ? 'conf-change' : undefined;
    if (kind === undefined) fail('PH_TRANSPORT_MALFORMED_FRAME', 'bad-entry-kind', `entry kind ${kindCode}`);
    const data = reader.rawBytes('entry data', reader.varint('entry data length'));
    entries.push({ term: entryTerm, index: prevLogIndex + 1 + i, kind, data });
    previousTerm = entryTerm;
  }
  return entries;
}

function readConfState(reader: FrameReader): ConfState {
  const voters = reader.idList('voters');
  const votersOutgoing = reader.idList('outgoing voters');
  const learners = reader.idList('learners');
  const learnersNext = reader.idList('next learners');
  const autoLeave = reader.bool('autoLeave');
  return { voters, votersOutgoing, learners, learnersNext, autoLeave };
}

interface MessageStart {
  readonly groupId: number;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

function readMessage(reader: FrameReader, from: NodeId, to: NodeId, protocolVersion: number): Message {
  const code = reader.u8('message kind');
  const quiesce = code === quiesceHeartbeatCode && protocolVersion >= 2;
  const kind = quiesce ? 'Heartbeat' : kindsByCode.get(code);
  if (kind === undefined) fail('PH_TRANSPORT_UNKNOWN_MESSAGE_KIND', 'unknown-kind', `message kind code ${code}`);
  const start: MessageStart = { groupId: reader.varint('group id'), from, to, term: reader.varint('term') };
  const message = readMessageBody(reader, kind, start);
  return quiesce && message.kind === 'Heartbeat' ? { ...message, quiesce: true } : message;
}

function readMessageBody(reader: FrameReader, kind: MessageKind, start: MessageStart): Message {
  switch (kind) {
    case 'Vote':
    case 'PreVote':
      return { kind, ...start, lastLogIndex: reader.varint('lastLogIndex'), lastLogTerm: reader.varint('lastLogTerm'), transfer: reader.bool('transfer') };
    case 'VoteResponse':
    case 'PreVoteResponse':
      return { kind, ...start, reject: reader.bool('reject') };
    case 'Append': {
      const prevLogIndex = reader.varint('prevLogIndex');
      const prevLogTerm = reader.varint('prevLogTerm');
      if (prevLogTerm > start.term) fail('PH_TRANSPORT_MALFORMED_FRAME', 'entry-term-order', `prevLogTerm ${prevLogTerm} above message term ${start.term}`);
      const commit = reader.varint('commit');
      return { kind, ...start, prevLogIndex, prevLogTerm, commit, entries: readEntries(reader, start.term, prevLogIndex, prevLogTerm) };
    }
    case 'AppendResponse':
      return { kind, ...start, reject: reader.bool('reject'), index: reader.varint('index'), hintIndex: reader.varint('hintIndex'), hintTerm: reader.varint('hintTerm') };
    case 'Heartbeat':
      return { kind, ...start, commit: reader.varint('commit'), context: reader.string('context'), sentTick: reader.varint('sentTick') };
    case 'HeartbeatResponse':
      return { kind, ...start, context: reader.string('context'), sentTick: reader.varint('sentTick') };
    case 'Snapshot': {
      const index = reader.varint('snapshot index');
      const term = reader.varint('snapshot term');
      if (term > start.term) fail('PH_TRANSPORT_MALFORMED_FRAME', 'entry-term-order', `snapshot term ${term} above message term ${start.term}`);
      const confState = readConfState(reader);
      return { kind, ...start, snapshot: { index, term, confState, reference: reader.string('snapshot reference') } };
    }
    case 'TimeoutNow':
      return { kind, ...start };
    case 'ReadIndex':
      return { kind, ...start, context: reader.string('context') };
    case 'ReadIndexResponse':
      return { kind, ...start, index: reader.varint('index'), context: reader.string('context') };
    default:
      return assertNever(kind, 'message kind');
  }
}

/**
 * Reads and checks the fixed part of a frame (size, magic, version, flags, checksum), in that
 * order, so that a peer on another protocol version gets a version error rather than a checksum
 * error, and so that oversized input is refused before it is read.
 */
function readFixedHeader(bytes: Uint8Array, limits: CodecLimits): number {
  if (bytes.byteLength > limits.frameBytesMax) fail('PH_TRANSPORT_LIMIT_EXCEEDED', 'frame-limit', `frame of ${bytes.byteLength} bytes, limit ${limits.frameBytesMax}`);
  if (bytes.byteLength < frameFixedHeaderBytes) fail('PH_TRANSPORT_MALFORMED_FRAME', 'truncated', `frame of ${bytes.byteLength} bytes is shorter than its header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  if (magic !== frameMagic) fail('PH_TRANSPORT_MALFORMED_FRAME', 'bad-magic', `magic 0x${magic.toString(16)}`);
  const version = view.getUint16(4);
  if (version < protocolVersionMin || version > protocolVersionMax) {
    fail('PH_TRANSPORT_VERSION_MISMATCH', 'version', `frame protocol version ${version}, supported ${protocolVersionMin}..${protocolVersionMax}`);
  }
  const flags = view.getUint16(6);
  if (flags !== 0) fail('PH_TRANSPORT_MALFORMED_FRAME', 'bad-flags', `flags 0x${flags.toString(16)}`);
  const stored = unmaskCrc(view.getUint32(8));
  const actual = crc32c(bytes, frameFixedHeaderBytes, bytes.byteLength);
  if (stored !== actual) fail('PH_TRANSPORT_MALFORMED_FRAME', 'checksum', `checksum 0x${actual.toString(16)}, frame says 0x${stored.toString(16)}`);
  return version;
}

/**
 * Decodes one frame. Throws TransportProtocolError (and nothing else) when `bytes` are not a
 * well-formed frame within `limits`; on success every message has from = sender and
 * to = recipient, and terms, indexes and node ids are safe integers.
 */
export function decodeFrame(bytes: Uint8Array, limits: CodecLimits = defaultCodecLimits): Frame {
  const protocolVersion = readFixedHeader(bytes, limits);
  return decodeFrameBody(bytes, protocolVersion, limits);
}

/** Decodes the part after the fixed header; exported for fuzz tests that bypass the checksum. */
export function decodeFrameBody(bytes: Uint8Array, protocolVersion: number, limits: CodecLimits): Frame {
  const reader = new FrameReader(bytes, frameFixedHeaderBytes, limits);
  const clusterId = reader.string('clusterId');
  const senderNodeId = reader.nodeId('sender node id');
  const recipientNodeId = reader.nodeId('recipient node id');
  if (senderNodeId === recipientNodeId) fail('PH_TRANSPORT_MALFORMED_FRAME', 'self-addressed', `frame from ${senderNodeId} to itself`);
  // Every message takes at least 3 bytes (kind, group id, term).
  const count = reader.count('message count', 3, limits.messagesPerFrameMax);
  const messages: Message[] = [];
  for (let i = 0; i < count; i++) messages.push(readMessage(reader, senderNodeId, recipientNodeId, protocolVersion));
  if (reader.remaining() !== 0) fail('PH_TRANSPORT_MALFORMED_FRAME', 'trailing-bytes', `${reader.remaining()} bytes after the last message`);
  return { header: { protocolVersion, clusterId, senderNodeId, recipientNodeId }, messages };
}

/** Recomputes the checksum of a frame in place (test support: fuzzing the body behind a valid checksum). */
export function resealFrame(bytes: Buffer): void {
  assert(bytes.byteLength >= frameFixedHeaderBytes, 'frame has a fixed header');
  bytes.writeUInt32BE(maskCrc(crc32c(bytes, frameFixedHeaderBytes, bytes.byteLength)), 8);
}
