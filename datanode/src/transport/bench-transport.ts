/**
 * Micro-benchmark: Raft Append throughput between two transports on loopback.
 *
 *   npx tsx datanode/src/transport/bench-transport.ts [seconds=5] [entriesPerAppend=16] [groups=100]
 *
 * The sender plays many leaders: every tick it sends one Append of `entriesPerAppend` 256-byte
 * entries to each of `groups` groups, keeping at most `inflightBytesMax` unacknowledged (the
 * receiver's deliveries are the acknowledgement), which is how a Raft leader's inflight window
 * bounds a real replication stream. Also reports the codec alone, to separate it from gRPC.
 */
import type { Entry, Message } from '../raft/types.ts';
import { decodeFrame, encodeFrame, protocolVersionMax } from './codec.ts';
import { RaftTransport } from './transport.ts';

const seconds = Number(process.argv[2] ?? 5);
const entriesPerAppend = Number(process.argv[3] ?? 16);
const groups = Number(process.argv[4] ?? 100);
const entryBytes = 256;
// Below the transport's queueBytesMax (64 MiB) and, in messages, its queueMessagesMax (65,536)
// for the default shapes, so that the benchmark measures delivery, not queue-full drops.
const inflightBytesMax = 8 * 1024 * 1024;
const quietLogger = { info: () => undefined, warn: () => undefined, error: (event: string, fields: object) => console.error(event, fields) };

function appendsForTick(tick: number): Message[] {
  const messages: Message[] = [];
  const data = new Uint8Array(entryBytes).fill(tick & 0xff);
  for (let groupId = 1; groupId <= groups; groupId++) {
    const prevLogIndex = tick * entriesPerAppend;
    const entries: Entry[] = [];
    for (let i = 0; i < entriesPerAppend; i++) entries.push({ term: 1, index: prevLogIndex + 1 + i, kind: 'normal', data });
    messages.push({ kind: 'Append', groupId, from: 1, to: 2, term: 1, prevLogIndex, prevLogTerm: tick === 0 ? 0 : 1, commit: prevLogIndex, entries });
  }
  return messages;
}

function benchCodec(): void {
  const messages = appendsForTick(1);
  const header = { protocolVersion: protocolVersionMax, clusterId: 'bench', senderNodeId: 1, recipientNodeId: 2 };
  const rounds = 300;
  for (let i = 0; i < 50; i++) decodeFrame(encodeFrame(header, messages)); // warm-up
  let bytes = 0;
  const started = performance.now();
  for (let i = 0; i < rounds; i++) {
    const frame = encodeFrame(header, messages);
    bytes += frame.byteLength;
    decodeFrame(frame);
  }
  const elapsedS = (performance.now() - started) / 1000;
  console.log(
    `codec encode+decode: ${((rounds * messages.length) / elapsedS).toFixed(0)} messages/s, ` +
      `${((rounds * messages.length * entriesPerAppend) / elapsedS).toFixed(0)} entries/s, ${(bytes / elapsedS / 1e6).toFixed(1)} MB/s`,
  );
}

async function benchTransport(): Promise<void> {
  const addresses = new Map<number, string>();
  let receivedMessages = 0;
  let receivedEntryBytes = 0;
  let wake: (() => void) | undefined;
  const sender = new RaftTransport({ logger: quietLogger });
  const receiver = new RaftTransport({ logger: quietLogger });
  const common = { clusterId: 'bench', resolvePeer: (id: number) => addresses.get(id) };
  const a = await sender.start({ ...common, nodeId: 1, listen: { host: '127.0.0.1', port: 0 }, onMessages: () => undefined });
  const b = await receiver.start({
    ...common,
    nodeId: 2,
    listen: { host: '127.0.0.1', port: 0 },
    onMessages: (messages) => {
      receivedMessages += messages.length;
      for (const message of messages) if (message.kind === 'Append') receivedEntryBytes += message.entries.length * entryBytes;
      wake?.();
    },
  });
  addresses.set(1, `127.0.0.1:${a.port}`);
  addresses.set(2, `127.0.0.1:${b.port}`);

  const appendBytes = entriesPerAppend * entryBytes;
  let sentEntryBytes = 0;
  let sentMessages = 0;
  let tick = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  while (performance.now() < deadline) {
    if (sentEntryBytes - receivedEntryBytes + groups * appendBytes > inflightBytesMax) {
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      continue;
    }
    const messages = appendsForTick(tick++);
    sender.send(messages);
    sentMessages += messages.length;
    sentEntryBytes += groups * appendBytes;
    await new Promise((resolve) => setImmediate(resolve));
  }
  const elapsedS = (performance.now() - started) / 1000;
  const stats = sender.stats().peers.get(2);
  console.log(
    `transport (${groups} groups, ${entriesPerAppend} x ${entryBytes}-byte entries per Append): ` +
      `${(receivedMessages / elapsedS).toFixed(0)} messages/s, ${((receivedMessages * entriesPerAppend) / elapsedS).toFixed(0)} entries/s, ` +
      `${(receivedEntryBytes / elapsedS / 1e6).toFixed(1)} MB/s of entry data, ${((stats?.bytesSent ?? 0) / elapsedS / 1e6).toFixed(1)} MB/s on the wire; ` +
      `frames ${stats?.framesSent}, messages/frame ${((stats?.messagesSent ?? 0) / Math.max(1, stats?.framesSent ?? 0)).toFixed(0)}, ` +
      `sent ${sentMessages}, received ${receivedMessages}, dropped ${stats?.droppedQueueFull ?? 0}`,
  );
  await sender.stop();
  await receiver.stop();
}

benchCodec();
await benchTransport();
