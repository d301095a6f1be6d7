/**
 * Waking the followers of quiescent ranges whose leader may have failed.
 *
 * A quiescent follower runs no election timer (raft/raft.ts, `quiesceAfterIdleTicks`), so it
 * would never notice that its leader's node died. Node liveness notices instead: every node
 * rewrites its liveness record in the meta range about once a second (placement-host.ts), and
 * every node holds a replica of the meta range, so each node can tell locally, in its own clock,
 * when a node's record last advanced. A quiescent follower whose leader's record has not advanced
 * for `leaderSuspectMs` (or who restarted: a new epoch) is woken: its election timer resumes, and
 * if the leader is in fact alive the follower's campaign wakes it, which costs one heartbeat round.
 *
 * Pure: the host supplies the records and the time.
 */
import type { LivenessRecord } from '../placement/liveness.ts';
import type { NodeId } from '../raft/types.ts';

interface Seen {
  readonly epoch: number;
  readonly heartbeatTicks: number;
  /** When (host monotonic ms) the record was first seen at this epoch and beat. */
  readonly advancedAtMs: number;
}

export class LeaderLivenessWatch {
  private readonly seen = new Map<NodeId, Seen>();
  private readonly startedAtMs: number;

  constructor(
    private readonly leaderSuspectMs: number,
    nowMs: number,
  ) {
    this.startedAtMs = nowMs;
  }

  /** Takes the liveness records as the local meta replica holds them now. */
  observe(records: Iterable<LivenessRecord>, nowMs: number): void {
    for (const record of records) {
      const before = this.seen.get(record.nodeId);
      if (before !== undefined && before.epoch === record.epoch && before.heartbeatTicks === record.heartbeatTicks) continue;
      // A record seen for the first time counts as advancing now: this watch cannot tell how
      // old it is, and a node that stays silent is suspect one period later.
      this.seen.set(record.nodeId, { epoch: record.epoch, heartbeatTicks: record.heartbeatTicks, advancedAtMs: nowMs });
    }
  }

  /**
   * Whether `nodeId` may have failed: its record did not advance for `leaderSuspectMs`, or no
   * record of it was seen for that long since this watch started.
   */
  suspect(nodeId: NodeId, nowMs: number): boolean {
    const seen = this.seen.get(nodeId);
    const since = seen === undefined ? this.startedAtMs : seen.advancedAtMs;
    return nowMs - since >= this.leaderSuspectMs;
  }
}

/**
 * The peers this node has evidence are down: a connection to them failed (the Raft transport's
 * onConnectionFailed, or a forwarded request could not connect) and no message arrived
 * from them since. Cheaper and much faster than node liveness (which suspects a node only after
 * `leaderSuspectMs`): the connection to a killed process fails within milliseconds.
 *
 * It also paces the campaigns requests start on ranges whose leader is down: at most one per
 * range per `campaignGapMs`, so that retries do not restart an election already under way.
 */
export class PeerFailures {
  private readonly downSince = new Map<NodeId, number>();
  private readonly campaignedAt = new Map<number, number>();

  constructor(private readonly campaignGapMs: number) {}

  /** Records a failed connection to `peer`; returns whether it was news (not down before). */
  markDown(peer: NodeId, nowMs: number): boolean {
    if (this.downSince.has(peer)) return false;
    this.downSince.set(peer, nowMs);
    return true;
  }

  /** A message from `peer` arrived: it is up. */
  heardFrom(peer: NodeId): void {
    this.downSince.delete(peer);
  }

  /** Whether any peer is down (a cheap check for the message path). */
  get any(): boolean {
    return this.downSince.size > 0;
  }

  isDown(peer: NodeId): boolean {
    return this.downSince.has(peer);
  }

  /** Whether `rangeId` may start a campaign now; if so, counts it as started. */
  mayCampaign(rangeId: number, nowMs: number): boolean {
    const last = this.campaignedAt.get(rangeId);
    if (last !== undefined && nowMs - last < this.campaignGapMs) return false;
    this.campaignedAt.set(rangeId, nowMs);
    // Bounded: entries older than the gap say nothing any more.
    if (this.campaignedAt.size > 1024) {
      for (const [id, at] of this.campaignedAt) if (nowMs - at >= this.campaignGapMs) this.campaignedAt.delete(id);
    }
    return true;
  }
}

/**
 * The leader each woken range forgot (Store.peerUnreachable), so that a request there still knows
 * whom the replica followed (Store.campaignIfLeaderDown). An entry belongs to one replica object:
 * a replica dropped, or replaced by a new one of the same range, has no use for it. `prune`
 * (every maintenance pass) drops the entries of replicas that are gone or that know a leader
 * again, so the map holds at most one entry per range that is leaderless here right now.
 */
export class ForgottenLeaders<R> {
  private readonly byRange = new Map<number, { readonly replica: R; readonly leaderId: NodeId }>();

  remember(rangeId: number, replica: R, leaderId: NodeId): void {
    this.byRange.set(rangeId, { replica, leaderId });
  }

  /** The leader `replica` forgot, or 0 (none, or the entry was another replica's). */
  leaderOf(rangeId: number, replica: R): NodeId {
    const entry = this.byRange.get(rangeId);
    return entry?.replica === replica ? entry.leaderId : 0;
  }

  forget(rangeId: number): void {
    this.byRange.delete(rangeId);
  }

  /**
   * Drops every entry whose range has no replica now (`current` answers undefined), a different
   * replica than the one that forgot, or a replica that knows a leader again.
   */
  prune(current: (rangeId: number) => { readonly replica: R; readonly leaderKnown: boolean } | undefined): void {
    for (const [rangeId, entry] of this.byRange) {
      const now = current(rangeId);
      if (now === undefined || now.replica !== entry.replica || now.leaderKnown) this.byRange.delete(rangeId);
    }
  }

  get size(): number {
    return this.byRange.size;
  }
}
