/**
 * fast-check arbitraries of Raft messages of every kind, valid as the core would send them
 * (contiguous append entries with non-decreasing terms no higher than the message term), for the
 * codec's round-trip properties and the transport's end-to-end tests.
 */
import fc from 'fast-check';
import type { ConfState, Entry, Message, MessageKind, NodeId } from '../raft/types.ts';

const safeMax = Number.MAX_SAFE_INTEGER;

/** Mostly small numbers (the common case), sometimes anything up to 2^53-1 (varint edges). */
export const wireNumber = (): fc.Arbitrary<number> =>
  fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 300 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: safeMax }) });

const nodeIdArb = (): fc.Arbitrary<NodeId> => fc.oneof(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: safeMax }));
const textArb = (): fc.Arbitrary<string> => fc.string({ unit: 'binary', maxLength: 24 });
const idsArb = (): fc.Arbitrary<NodeId[]> => fc.array(nodeIdArb(), { maxLength: 7 });

const confStateArb = (): fc.Arbitrary<ConfState> =>
  fc.record({ voters: idsArb(), votersOutgoing: idsArb(), learners: idsArb(), learnersNext: idsArb(), autoLeave: fc.boolean() });

interface Addressing {
  readonly groupId: number;
  readonly from: NodeId;
  readonly to: NodeId;
}

function appendArb(address: Addressing): fc.Arbitrary<Message> {
  return fc
    .record({
      term: wireNumber(),
      prevLogIndex: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: safeMax - 64 })),
      commit: wireNumber(),
      termSteps: fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 12 }),
      datas: fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }),
      kinds: fc.array(fc.boolean(), { maxLength: 12 }),
    })
    .map(({ term: termDrawn, prevLogIndex, commit, termSteps, datas, kinds }) => {
      // Terms climb in small steps from prevLogTerm and never pass the message term.
      const totalSteps = termSteps.reduce((sum, step) => sum + step, 0);
      const term = Math.max(termDrawn, totalSteps);
      const prevLogTerm = term - totalSteps;
      const entries: Entry[] = [];
      let entryTerm = prevLogTerm;
      termSteps.forEach((step, i) => {
        entryTerm += step;
        entries.push({ term: entryTerm, index: prevLogIndex + 1 + i, kind: kinds[i] === true ? 'conf-change' : 'normal', data: datas[i] ?? new Uint8Array(0) });
      });
      return { kind: 'Append', ...address, term, prevLogIndex, prevLogTerm, commit, entries };
    });
}

/** One arbitrary per kind, so tests can insist every kind is covered. */
export function messageArbitraries(address: Addressing): Record<MessageKind, fc.Arbitrary<Message>> {
  const vote = (kind: 'Vote' | 'PreVote'): fc.Arbitrary<Message> =>
    fc.record({ term: wireNumber(), lastLogIndex: wireNumber(), lastLogTerm: wireNumber(), transfer: fc.boolean() }).map((m) => ({ kind, ...address, ...m }));
  const voteResponse = (kind: 'VoteResponse' | 'PreVoteResponse'): fc.Arbitrary<Message> =>
    fc.record({ term: wireNumber(), reject: fc.boolean() }).map((m) => ({ kind, ...address, ...m }));
  return {
    Vote: vote('Vote'),
    PreVote: vote('PreVote'),
    VoteResponse: voteResponse('VoteResponse'),
    PreVoteResponse: voteResponse('PreVoteResponse'),
    Append: appendArb(address),
    AppendResponse: fc
      .record({ term: wireNumber(), reject: fc.boolean(), index: wireNumber(), hintIndex: wireNumber(), hintTerm: wireNumber() })
      .map((m) => ({ kind: 'AppendResponse', ...address, ...m })),
    Heartbeat: fc
      .record({ term: wireNumber(), commit: wireNumber(), context: textArb(), sentTick: wireNumber(), quiesce: fc.boolean() })
      .map(({ quiesce, ...m }) => ({ kind: 'Heartbeat', ...address, ...m, ...(quiesce ? { quiesce: true } : {}) })),
    HeartbeatResponse: fc.record({ term: wireNumber(), context: textArb(), sentTick: wireNumber() }).map((m) => ({ kind: 'HeartbeatResponse', ...address, ...m })),
    Snapshot: fc
      .record({ term: wireNumber(), index: wireNumber(), snapshotTermBelow: wireNumber(), confState: confStateArb(), reference: textArb() })
      .map(({ term, index, snapshotTermBelow, confState, reference }) => ({
        kind: 'Snapshot',
        ...address,
        term,
        snapshot: { index, term: Math.max(0, term - snapshotTermBelow), confState, reference },
      })),
    TimeoutNow: wireNumber().map((term) => ({ kind: 'TimeoutNow', ...address, term })),
    ReadIndex: fc.record({ term: wireNumber(), context: textArb() }).map((m) => ({ kind: 'ReadIndex', ...address, ...m })),
    ReadIndexResponse: fc.record({ term: wireNumber(), index: wireNumber(), context: textArb() }).map((m) => ({ kind: 'ReadIndexResponse', ...address, ...m })),
  };
}

/** A message of any kind from `from` to `to`, in a random group. */
export function messageArb(from: NodeId, to: NodeId): fc.Arbitrary<Message> {
  return fc.integer({ min: 0, max: safeMax }).chain((groupId) => fc.oneof(...Object.values(messageArbitraries({ groupId, from, to }))));
}

/** A frame's worth of messages between two random distinct nodes. */
export const frameArb = (maxMessages = 20): fc.Arbitrary<{ from: NodeId; to: NodeId; clusterId: string; messages: Message[] }> =>
  fc
    .tuple(nodeIdArb(), nodeIdArb(), textArb())
    .filter(([from, to]) => from !== to)
    .chain(([from, to, clusterId]) => fc.record({ from: fc.constant(from), to: fc.constant(to), clusterId: fc.constant(clusterId), messages: fc.array(messageArb(from, to), { maxLength: maxMessages }) }));
