/**
 * A seeded, deterministic simulation of one Raft group: many RaftNodes in one process over a
 * faulty network (loss, delay, reordering, duplication, symmetric and asymmetric partitions),
 * with crashes that lose everything not persisted, restarts, snapshots and compaction,
 * membership changes and leader transfers. After every step it checks election safety, log
 * matching, leader completeness, state machine safety and read linearizability.
 */
import { assert } from '../assert.ts';
import { RaftNode, type RaftOptions } from './raft.ts';
import { MemoryRaftStorage } from './storage.ts';
import { seededRng, text } from './testkit.ts';
import { simpleConfState, type ConfChange, type Entry, type Message, type NodeId, type Ready } from './types.ts';

export class SimulationFailure extends Error {
  override readonly name = 'SimulationFailure';
}

export interface SimulationOptions {
  readonly seed: number;
  readonly nodeCount: number;
  readonly faultTicks: number;
  /** Ticks allowed, after healing every fault, to elect a leader and commit a proposal. */
  readonly livenessTicks: number;
  readonly readOnlyOption: 'safe' | 'lease-based';
  readonly membershipChanges: boolean;
  /**
   * Quiescence on (quiesceAfterIdleTicks 3), with the host's wake-up modelled as an imperfect
   * node-liveness oracle: a quiesced follower whose leader is down, no longer leads, or is cut
   * off from it is woken with probability 0.3 per tick.
   */
  readonly quiesce?: boolean;
  /** Leaders skip heartbeats to followers they just sent Appends (skipHeartbeatAfterAppend). */
  readonly skipHeartbeatAfterAppend?: boolean;
  /** Leaders announce a new commit index only with the next Append or Heartbeat (commitWithNextMessage). */
  readonly commitWithNextMessage?: boolean;
}

interface SimNode {
  readonly id: NodeId;
  readonly storage: MemoryRaftStorage;
  raft: RaftNode | undefined;
  /** The state machine: applied entries (volatile, rebuilt from a snapshot on restart). */
  stateMachine: Entry[];
  /** Reads requested and not answered yet: context -> highest index applied anywhere then. */
  readonly pendingReads: Map<string, number>;
}

interface InFlight {
  readonly deliverAt: number;
  readonly message: Message;
}

const groupId = 7;
const stepsPerTick = 4;

export class Simulation {
  private readonly rng;
  private readonly nodes = new Map<NodeId, SimNode>();
  private network: InFlight[] = [];
  private readonly cut = new Set<string>();
  private readonly raftOptions: Partial<RaftOptions>;
  private step = 0;
  private nextNodeId: number;
  /** Snapshot data by reference: immutable copies of a state machine. */
  private readonly blobs = new Map<string, Entry[]>();
  private blobCounter = 0;
  private proposalCounter = 0;
  private readCounter = 0;
  private faultsOn = true;
  private globalTicks = 0;
  /** Per node: +1 fast clock, -1 slow clock, 0 exact. */
  private readonly drifts = new Map<NodeId, number>();
  private lossRate = 0;
  private duplicateRate = 0;
  private maxDelaySteps = 1;
  // invariant state
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly entryAt = new Map<string, string>();
  private readonly appliedAt = new Map<number, { key: string; term: number; knownCommittedInTerm: number }>();
  private maxAppliedIndex = 0;
  readonly stats = { elections: 0, committed: 0, crashes: 0, snapshotsSent: 0, confChanges: 0, reads: 0, transfers: 0, quiescedLeaderTicks: 0, wakeUps: 0 };

  constructor(private readonly options: SimulationOptions) {
    this.rng = seededRng(options.seed);
    this.raftOptions = {
      electionTimeoutTicks: 10,
      heartbeatTimeoutTicks: 2,
      preVote: this.rng.next() < 0.7,
      checkQuorum: options.readOnlyOption === 'lease-based' || this.rng.next() < 0.7,
      readOnlyOption: options.readOnlyOption,
      maxMsgBytes: this.rng.next() < 0.3 ? 1 : 64 + this.rng.int(256),
      maxInflightMsgs: 1 + this.rng.int(8),
      maxUncommittedEntriesBytes: 2048,
      ...(options.quiesce === true ? { quiesceAfterIdleTicks: 3 } : {}),
      ...(options.skipHeartbeatAfterAppend === true ? { skipHeartbeatAfterAppend: true } : {}),
      ...(options.commitWithNextMessage === true ? { commitWithNextMessage: true } : {}),
    };
    const voters = Array.from({ length: options.nodeCount }, (_, i) => i + 1);
    for (const id of voters) this.addNode(id, new MemoryRaftStorage(simpleConfState(voters)));
    this.nextNodeId = options.nodeCount + 1;
  }

  private fail(message: string): never {
    throw new SimulationFailure(`${message} (step ${this.step}); reproduce with SEED=${this.options.seed}`);
  }

  private addNode(id: NodeId, storage: MemoryRaftStorage): void {
    const node: SimNode = { id, storage, raft: undefined, stateMachine: [], pendingReads: new Map() };
    this.nodes.set(id, node);
    this.start(node);
  }

  private start(node: SimNode): void {
    const snapshot = node.storage.snapshot();
    node.stateMachine = [...(this.blobs.get(snapshot.reference) ?? [])];
    node.pendingReads.clear();
    node.raft = new RaftNode({
      ...this.raftOptions,
      id: node.id,
      groupId,
      storage: node.storage,
      rng: seededRng(this.options.seed * 31 + node.id * 7919 + this.step),
      applied: snapshot.index,
    });
  }

  /** Runs the fault phase then the liveness phase; throws SimulationFailure on a violation. */
  run(): void {
    for (let tick = 0; tick < this.options.faultTicks; tick++) {
      this.injectFaults();
      this.runTick();
    }
    this.healAll();
    this.checkLiveness();
  }

  private clockDrift(id: NodeId): number {
    let drift = this.drifts.get(id);
    if (drift === undefined) {
      drift = this.rng.int(3) - 1;
      this.drifts.set(id, drift);
    }
    return drift;
  }

  private upNodes(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.raft !== undefined);
  }

  private leaders(): SimNode[] {
    return this.upNodes().filter((n) => n.raft?.status().role === 'leader');
  }

  private pick<T>(items: readonly T[]): T | undefined {
    return items[this.rng.int(items.length)];
  }

  private injectFaults(): void {
    const r = this.rng;
    if (r.next() < 0.02) {
      this.lossRate = this.pick([0, 0, 0.05, 0.2]) ?? 0;
      this.duplicateRate = this.pick([0, 0.02, 0.1]) ?? 0;
      this.maxDelaySteps = this.pick([1, 2, 6, 20]) ?? 1;
    }
    if (r.next() < 0.02) this.changePartition();
    const up = this.upNodes();
    if (r.next() < 0.01 && up.length > 0) {
      const victim = this.pick(up);
      if (victim !== undefined) this.crash(victim);
    }
    // Any crashed node may come back, one removed from the configuration too: a removed node
    // restarting on its old state is a case the group must survive.
    const down = [...this.nodes.values()].filter((n) => n.raft === undefined);
    if (r.next() < 0.05 && down.length > 0) {
      const revived = this.pick(down);
      if (revived !== undefined) this.start(revived);
    }
    if (r.next() < 0.02) this.compactSomewhere();
    if (this.options.membershipChanges && r.next() < 0.01) this.changeMembership();
    if (r.next() < 0.005) this.transferLeadership();
    if (r.next() < 0.3) this.proposeSomewhere();
    if (r.next() < (this.options.readOnlyOption === 'lease-based' ? 0.5 : 0.1)) this.readSomewhere();
  }

  private changePartition(): void {
    this.cut.clear();
    const ids = [...this.nodes.keys()];
    const kind = this.rng.int(4);
    if (kind === 3) {
      // Isolate a leader: the classic setup for a stale read by a deposed leader.
      const leader = this.pick(this.leaders());
      if (leader !== undefined) for (const other of ids) if (other !== leader.id) this.cut.add(`${leader.id}-${other}`).add(`${other}-${leader.id}`);
      return;
    }
    if (kind === 1) {
      // Symmetric: split into two sides.
      const side = new Set(ids.filter(() => this.rng.next() < 0.5));
      for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) this.cut.add(`${a}-${b}`);
    } else if (kind === 2) {
      // Asymmetric: a few one-way links fail.
      for (const a of ids) for (const b of ids) if (a !== b && this.rng.next() < 0.2) this.cut.add(`${a}-${b}`);
    }
  }

  private crash(node: SimNode): void {
    // Everything not yet persisted (the core's memory, pending reads) is lost.
    node.raft = undefined;
    node.stateMachine = [];
    node.pendingReads.clear();
    this.stats.crashes++;
  }

  private compactSomewhere(): void {
    const node = this.pick(this.upNodes());
    const raft = node?.raft;
    if (node === undefined || raft === undefined) return;
    const status = raft.status();
    if (status.applied <= node.storage.snapshot().index) return;
    // Snapshot the state machine at the applied index, with the configuration in force there.
    const reference = `blob-${this.blobCounter++}`;
    this.blobs.set(reference, [...node.stateMachine]);
    node.storage.createSnapshot(status.applied, status.config, reference);
  }

  private changeMembership(): void {
    const leader = this.pick(this.leaders());
    const raft = leader?.raft;
    if (leader === undefined || raft === undefined) return;
    const config = raft.status().config;
    let change: ConfChange;
    const voters = config.voters;
    if (config.votersOutgoing.length > 0) {
      change = { changes: [], transition: 'auto' };
    } else if (config.learners.length > 0 && this.rng.next() < 0.5) {
      const learner = this.pick(config.learners) ?? 0;
      change = { changes: [{ op: 'add-voter', nodeId: learner }], transition: 'auto' };
    } else if (voters.length <= 3 || (voters.length < 5 && this.rng.next() < 0.5)) {
      const id = this.nextNodeId++;
      this.addNode(id, new MemoryRaftStorage());
      const op = this.rng.next() < 0.5 ? 'add-learner' : 'add-voter';
      change = { changes: [{ op, nodeId: id }], transition: 'auto' };
    } else {
      const victim = this.pick(voters) ?? 0;
      const replacement = this.nextNodeId++;
      this.addNode(replacement, new MemoryRaftStorage());
      const transition = this.pick(['auto', 'joint-auto', 'joint-explicit'] as const) ?? 'auto';
      change =
        this.rng.next() < 0.5
          ? { changes: [{ op: 'remove', nodeId: victim }], transition: 'auto' }
          : { changes: [{ op: 'remove', nodeId: victim }, { op: 'add-voter', nodeId: replacement }], transition };
    }
    const result = raft.proposeConfChange(change);
    if (result.ok) this.stats.confChanges++;
  }

  private transferLeadership(): void {
    const leader = this.pick(this.leaders());
    const raft = leader?.raft;
    if (raft === undefined) return;
    const target = this.pick(raft.status().config.voters);
    if (target !== undefined && raft.transferLeadership(target).ok) this.stats.transfers++;
  }

  private proposeSomewhere(): void {
    // Mostly at a leader (as a router would), sometimes anywhere (to exercise rejections).
    const node = this.rng.next() < 0.7 ? this.pick(this.leaders()) : this.pick(this.upNodes());
    const data = new TextEncoder().encode(`p${this.proposalCounter++}`);
    node?.raft?.propose(data);
  }

  private readSomewhere(): void {
    const node = this.rng.next() < 0.7 ? this.pick(this.leaders()) : this.pick(this.upNodes());
    const raft = node?.raft;
    if (node === undefined || raft === undefined) return;
    const context = `r${this.readCounter++}`;
    // Every write applied anywhere before the read started must be visible to it.
    if (raft.readIndex(context).ok) node.pendingReads.set(context, this.maxAppliedIndex);
  }

  private runTick(): void {
    this.globalTicks++;
    for (const node of this.upNodes()) {
      // Bounded clock drift: a fast clock ticks twice, a slow one skips, once every 20 ticks
      // (5%, well inside the lease's drift margin of 2 ticks per election timeout of 10).
      const drift = this.clockDrift(node.id);
      const extra = (this.globalTicks + node.id) % 20 === 0 ? drift : 0;
      for (let i = 0; i < 1 + extra; i++) node.raft?.tick();
    }
    if (this.options.quiesce === true) this.wakeFollowersOfFailedLeaders();
    for (let sub = 0; sub < stepsPerTick; sub++) {
      this.step++;
      this.deliverDue();
      for (const node of this.upNodes()) this.handleReady(node);
      this.checkElectionSafety();
    }
  }

  /** The host's node-liveness wake-up, with a random detection delay. */
  private wakeFollowersOfFailedLeaders(): void {
    for (const node of this.upNodes()) {
      const status = node.raft?.status();
      if (status?.quiesced === true && status.role === 'leader') this.stats.quiescedLeaderTicks++;
      if (status === undefined || !status.quiesced || status.role === 'leader') continue;
      const leader = this.nodes.get(status.leaderId);
      const leaderFailed = leader?.raft === undefined || leader.raft.status().role !== 'leader' || this.cut.has(`${leader.id}-${node.id}`);
      if (leaderFailed && this.rng.next() < 0.3) {
        node.raft?.wake();
        this.stats.wakeUps++;
      }
    }
  }

  private deliverDue(): void {
    const due = this.network.filter((f) => f.deliverAt <= this.step);
    this.network = this.network.filter((f) => f.deliverAt > this.step);
    for (const { message } of due) {
      const target = this.nodes.get(message.to);
      if (target?.raft === undefined) continue;
      target.raft.step(message);
      if (message.kind === 'Snapshot') {
        // The host streamed the snapshot data successfully.
        this.nodes.get(message.from)?.raft?.reportSnapshot(message.to, true);
        this.stats.snapshotsSent++;
      }
    }
  }

  private send(message: Message): void {
    const lost = this.cut.has(`${message.from}-${message.to}`) || this.rng.next() < this.lossRate;
    if (lost) {
      const sender = this.nodes.get(message.from)?.raft;
      if (message.kind === 'Snapshot') sender?.reportSnapshot(message.to, false);
      else if (this.rng.next() < 0.1) sender?.reportUnreachable(message.to);
      return;
    }
    const copies = this.rng.next() < this.duplicateRate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      this.network.push({ deliverAt: this.step + 1 + this.rng.int(this.maxDelaySteps), message });
    }
  }

  private handleReady(node: SimNode): void {
    const raft = node.raft;
    if (raft === undefined || !raft.hasReady()) return;
    const ready = raft.ready();
    // A crash before the fsync completes: nothing of this Ready reaches the disk or the wire.
    if (this.faultsOn && this.rng.next() < 0.002) {
      this.crash(node);
      return;
    }
    // 1. persist
    if (ready.snapshot !== undefined) {
      node.storage.applySnapshot(ready.snapshot);
      const blob = this.blobs.get(ready.snapshot.reference);
      assert(blob !== undefined || ready.snapshot.reference === 'bootstrap', 'snapshot data exists');
      node.stateMachine = [...(blob ?? [])];
    }
    if (ready.entries.length > 0) {
      node.storage.append(ready.entries);
      this.checkLogMatching(node, ready.entries);
    }
    if (ready.hardState !== undefined) node.storage.setHardState(ready.hardState);
    // A crash after the fsync but before sending: the state is durable, the messages are lost.
    if (this.faultsOn && this.rng.next() < 0.002) {
      this.crash(node);
      return;
    }
    // 2. send
    for (const message of ready.messages) this.send(message);
    // A crash after sending but before applying: the state machine replays after restart.
    if (this.faultsOn && this.rng.next() < 0.002) {
      this.crash(node);
      return;
    }
    // 3. apply
    this.apply(node, ready);
    raft.advance(ready);
    if (ready.softState?.role === 'leader') this.checkLeaderCompleteness(node);
  }

  private apply(node: SimNode, ready: Ready): void {
    const term = node.raft?.status().term ?? 0;
    for (const entry of ready.committedEntries) {
      const last = node.stateMachine[node.stateMachine.length - 1];
      const expectedIndex = last === undefined ? entry.index : last.index + 1;
      if (last !== undefined && entry.index !== expectedIndex) {
        this.fail(`node ${node.id} applied index ${entry.index} after ${last.index}`);
      }
      const key = entryKey(entry);
      const seen = this.appliedAt.get(entry.index);
      if (seen === undefined) {
        this.appliedAt.set(entry.index, { key, term: entry.term, knownCommittedInTerm: term });
        this.stats.committed++;
      } else if (seen.key !== key) {
        this.fail(`state machine safety: index ${entry.index} applied as ${seen.key} and ${key} (node ${node.id})`);
      } else if (term < seen.knownCommittedInTerm) {
        this.appliedAt.set(entry.index, { ...seen, knownCommittedInTerm: term });
      }
      node.stateMachine.push(entry);
      this.maxAppliedIndex = Math.max(this.maxAppliedIndex, entry.index);
    }
    for (const read of ready.readStates) {
      const floor = node.pendingReads.get(read.context);
      if (floor === undefined) continue;
      node.pendingReads.delete(read.context);
      this.stats.reads++;
      if (read.index < floor) {
        this.fail(`stale read ${read.context} on node ${node.id}: read index ${read.index} < applied ${floor}`);
      }
    }
  }

  private checkElectionSafety(): void {
    for (const node of this.leaders()) {
      const term = node.raft?.status().term ?? 0;
      const leader = this.leaderOfTerm.get(term);
      if (leader === undefined) {
        this.leaderOfTerm.set(term, node.id);
        this.stats.elections++;
      } else if (leader !== node.id) {
        this.fail(`election safety: nodes ${leader} and ${node.id} both led term ${term}`);
      }
    }
  }

  /** Log matching: an (index, term) pair always names the same entry with the same predecessor. */
  private checkLogMatching(node: SimNode, entries: readonly Entry[]): void {
    for (const entry of entries) {
      let previousTerm = -1;
      if (entry.index - 1 >= node.storage.firstIndex() - 1) previousTerm = node.storage.term(entry.index - 1);
      const key = `${entry.index}/${entry.term}`;
      const value = `${entryKey(entry)} after term ${previousTerm}`;
      const seen = this.entryAt.get(key);
      if (seen === undefined) this.entryAt.set(key, value);
      else if (seen !== value && previousTerm !== -1 && !seen.endsWith('term -1')) {
        this.fail(`log matching: ${key} is ${seen} and ${value} (node ${node.id})`);
      }
    }
  }

  /** Leader completeness: a new leader holds every entry committed in an earlier term. */
  private checkLeaderCompleteness(node: SimNode): void {
    const raft = node.raft;
    if (raft === undefined) return;
    const term = raft.status().term;
    const first = raft.firstLogIndex();
    for (const [index, applied] of this.appliedAt) {
      if (applied.knownCommittedInTerm >= term || index < first) continue;
      if (raft.logTerm(index) !== applied.term) {
        this.fail(`leader completeness: leader ${node.id} of term ${term} lacks committed index ${index}`);
      }
    }
  }

  private healAll(): void {
    this.faultsOn = false;
    this.cut.clear();
    this.lossRate = 0;
    this.duplicateRate = 0;
    this.maxDelaySteps = 2;
    for (const node of this.nodes.values()) {
      if (node.raft === undefined) this.start(node);
    }
  }

  /**
   * The voters (incoming and outgoing) of the newest committed configuration: the one applied
   * by the node that has applied the most (configurations change when their entry applies, and
   * every applied prefix is a prefix of the one committed history).
   */
  private committedMembers(): Set<NodeId> {
    let newest: { applied: number; voters: readonly NodeId[] } | undefined;
    for (const node of this.upNodes()) {
      const status = node.raft?.status();
      if (status === undefined || (newest !== undefined && status.applied <= newest.applied)) continue;
      newest = { applied: status.applied, voters: [...status.config.voters, ...status.config.votersOutgoing] };
    }
    return new Set(newest?.voters ?? []);
  }

  private checkLiveness(): void {
    let proposedIndex = 0;
    let proposer: SimNode | undefined;
    for (let tick = 0; tick < this.options.livenessTicks; tick++) {
      this.runTick();
      // A removed node that missed its removal can still believe it leads (its own configuration
      // still lists it) and, without CheckQuorum or PreVote, nothing ever tells it otherwise: the
      // group no longer sends to it and ignores its lower-term messages. Asking it to commit
      // would test nothing about the group, so the leader must be a voter of the newest
      // committed configuration (and of its own).
      const members = this.committedMembers();
      const leader = this.leaders().find((n) => {
        const config = n.raft?.status().config;
        return config !== undefined && members.has(n.id) && (config.voters.includes(n.id) || config.votersOutgoing.includes(n.id));
      });
      if (leader?.raft === undefined) continue;
      if (proposer !== leader || proposedIndex === 0) {
        const result = leader.raft.propose(new TextEncoder().encode(`liveness-${this.options.seed}`));
        if (result.ok) {
          proposer = leader;
          proposedIndex = result.index;
        }
        continue;
      }
      if (leader.stateMachine.some((e) => e.index === proposedIndex && text(e.data) === `liveness-${this.options.seed}`)) return;
    }
    const roles = [...this.nodes.values()].map((n) => {
      const status = n.raft?.status();
      if (status === undefined) return `${n.id}:down`;
      const progress = [...status.progress].map(([id, p]) => `${id}=${p.state}/m${p.match}/n${p.next}/a${p.recentActive ? 1 : 0}`);
      return `${n.id}:${status.role}/t${status.term}/c${status.commit}/a${status.applied}/l${status.lastIndex}/v${status.config.voters.join(',')}|${status.config.votersOutgoing.join(',')} ${progress.join(' ')}`;
    });
    const members = [...this.committedMembers()].join(',');
    this.fail(`liveness: no leader among the committed configuration's voters (${members}) committed a proposal within ${this.options.livenessTicks} ticks after healing \n${roles.join('\n')}`);
  }
}

function entryKey(entry: Entry): string {
  return `${entry.kind}:${entry.term}:${text(entry.data)}`;
}
