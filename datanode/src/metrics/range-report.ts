import type { RaftStatus } from '../raft/raft.ts';
import type { RangeReplicaReport } from './sources.ts';

/**
 * One range replica as the range metrics see it, from its Raft status: on the leader, the voters
 * it heard from recently (itself included; `isLive` decides when given) and those not replicating normally; elsewhere only
 * whether a leader is known. No status: no report.
 */
export function rangeReportsOf(raft: RaftStatus | undefined, isLive?: (peer: number) => boolean): RangeReplicaReport[] {
  if (raft === undefined) return [];
  const isLeader = raft.role === 'leader';
  let liveVoters: number | undefined;
  let laggingVoters: number | undefined;
  if (isLeader) {
    liveVoters = 0;
    laggingVoters = 0;
    for (const voter of raft.config.voters) {
      if (voter === raft.id) {
        liveVoters++;
        continue;
      }
      const progress = raft.progress.get(voter);
      // The leader's progress flag is cleared at every quorum check: a liveness callback (time
      // since the peer was last heard from) is steadier where the replica offers one.
      if (isLive !== undefined ? isLive(voter) : progress?.recentActive === true) liveVoters++;
      if (progress === undefined || progress.state !== 'replicate') laggingVoters++;
    }
  }
  return [{ rangeId: raft.groupId, role: raft.role, leaderKnown: raft.leaderId !== 0, commitIndex: raft.commit, term: raft.term, voters: raft.config.voters.length, liveVoters, laggingVoters, quiesced: raft.quiesced }];
}
