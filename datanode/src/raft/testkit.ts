/**
 * An in-process cluster for driving RaftNodes in tests: each node has a MemoryRaftStorage as
 * its "disk", a host loop that handles Ready exactly as the contract in types.ts says, and a
 * shared in-flight message list that tests deliver, drop or partition explicitly.
 */
import { assert } from '../assert.ts';
import { RaftNode, type RaftOptions, type Rng } from './raft.ts';
import { MemoryRaftStorage } from './storage.ts';
import { simpleConfState, type Entry, type Message, type NodeId, type Ready, type ReadState } from './types.ts';

/** A small deterministic PRNG (mulberry32) for tests and simulations. */
export function seededRng(seed: number): Rng & { int(bound: number): number } {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (bound: number) => Math.floor(next() * bound) };
}

/** An Rng that always returns 0: election timeouts are exactly electionTimeoutTicks. */
export const zeroRng: Rng = { next: () => 0 };

export const testGroupId = 1;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

export function text(data: Uint8Array): string {
  return decoder.decode(data);
}

export interface TestNode {
  readonly id: NodeId;
  raft: RaftNode;
  readonly storage: MemoryRaftStorage;
  /** Entries applied to this node's state machine, in order (survives restarts in tests). */
  applied: Entry[];
  readStates: ReadState[];
}

export class TestCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages sent and not yet delivered, in send order. */
  inFlight: Message[] = [];
  /** Pairs "from-to" whose messages are dropped. */
  readonly cut = new Set<string>();
  private readonly options: Partial<RaftOptions>;
  private readonly rngFor: (id: NodeId) => Rng;
  /** Called for each Ready a node handles (datadriven traces). */
  onReady: ((id: NodeId, ready: Ready) => void) | undefined = undefined;
  /** Rewrites (or drops, by returning undefined) each message at delivery. */
  filter: ((message: Message) => Message | undefined) | undefined = undefined;

  constructor(options: Partial<RaftOptions> = {}, rngFor: (id: NodeId) => Rng = () => zeroRng) {
    this.options = options;
    this.rngFor = rngFor;
  }

  /** Adds nodes with ids `ids`, all bootstrapped with the voter set `voters`. */
  addNodes(ids: readonly NodeId[], voters: readonly NodeId[], learners: readonly NodeId[] = []): void {
    for (const id of ids) {
      const storage = new MemoryRaftStorage(simpleConfState(voters, learners));
      this.nodes.set(id, { id, raft: this.newRaft(id, storage), storage, applied: [], readStates: [] });
    }
  }

  /** Adds a node with empty storage and no configuration (it learns it from the leader). */
  addEmptyNode(id: NodeId): void {
    const storage = new MemoryRaftStorage();
    this.nodes.set(id, { id, raft: this.newRaft(id, storage), storage, applied: [], readStates: [] });
  }

  private newRaft(id: NodeId, storage: MemoryRaftStorage, options: Partial<RaftOptions> = {}): RaftNode {
    return new RaftNode({
      ...this.options,
      ...options,
      id,
      groupId: testGroupId,
      storage,
      rng: this.rngFor(id),
      applied: storage.snapshot().index,
    });
  }

  node(id: NodeId): TestNode {
    const node = this.nodes.get(id);
    assert(node !== undefined, `no node ${id}`);
    return node;
  }

  raft(id: NodeId): RaftNode {
    return this.node(id).raft;
  }

  /** Simulates a crash and restart: unpersisted state is lost, the state machine replays. */
  restart(id: NodeId): void {
    const node = this.node(id);
    node.raft = this.newRaft(id, node.storage);
    node.applied = node.applied.filter((e) => e.index <= node.storage.snapshot().index);
    node.readStates = [];
    this.inFlight = this.inFlight.filter((m) => m.to !== id && m.from !== id);
  }

  /** Handles one Ready of `id` as a host would. Returns false when there was nothing to do. */
  processReady(id: NodeId): boolean {
    const node = this.node(id);
    if (!node.raft.hasReady()) return false;
    const ready = node.raft.ready();
    this.onReady?.(id, ready);
    if (ready.snapshot !== undefined) {
      node.storage.applySnapshot(ready.snapshot);
      node.applied = node.applied.filter((e) => e.index <= (ready.snapshot?.index ?? 0));
    }
    node.storage.append(ready.entries);
    if (ready.hardState !== undefined) node.storage.setHardState(ready.hardState);
    this.inFlight.push(...ready.messages);
    node.applied.push(...ready.committedEntries);
    node.readStates.push(...ready.readStates);
    node.raft.advance(ready);
    return true;
  }

  /** Delivers in-flight messages (to `to` only, if given); returns how many were delivered. */
  deliver(to?: NodeId): Message[] {
    const delivered: Message[] = [];
    const keep: Message[] = [];
    for (const message of this.inFlight) {
      if (to !== undefined && message.to !== to) keep.push(message);
      else delivered.push(message);
    }
    this.inFlight = keep;
    const stepped: Message[] = [];
    for (const original of delivered) {
      const message = this.filter === undefined ? original : this.filter(original);
      if (message === undefined) continue;
      if (this.cut.has(`${message.from}-${message.to}`)) continue;
      const target = this.nodes.get(message.to);
      if (target === undefined) continue;
      target.raft.step(message);
      stepped.push(message);
    }
    return stepped;
  }

  /** Processes Readies and delivers messages until nothing changes (bounded). */
  stabilize(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      let progressed = false;
      for (const id of [...this.nodes.keys()].sort((a, b) => a - b)) progressed = this.processReady(id) || progressed;
      if (this.inFlight.length > 0) {
        this.deliver();
        progressed = true;
      }
      if (!progressed) return;
    }
    assert(false, 'cluster did not stabilize');
  }

  /** Cuts all links between the two sides (symmetric). */
  partition(sideA: readonly NodeId[], sideB: readonly NodeId[]): void {
    for (const a of sideA) {
      for (const b of sideB) {
        this.cut.add(`${a}-${b}`);
        this.cut.add(`${b}-${a}`);
      }
    }
  }

  isolate(id: NodeId): void {
    this.partition([id], [...this.nodes.keys()].filter((other) => other !== id));
  }

  heal(): void {
    this.cut.clear();
  }

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) this.raft(id).tick();
  }

  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) for (const node of this.nodes.values()) node.raft.tick();
  }

  /** Elects `id` by campaigning and stabilizing. */
  elect(id: NodeId): void {
    this.raft(id).campaign();
    this.stabilize();
    assert(this.raft(id).status().role === 'leader', `node ${id} failed to become leader`);
  }

  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.raft.status().role === 'leader').map((n) => n.id);
  }

  appliedData(id: NodeId): string[] {
    return this.node(id)
      .applied.filter((e) => e.kind === 'normal' && e.data.byteLength > 0)
      .map((e) => text(e.data));
  }
}
