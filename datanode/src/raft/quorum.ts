/**
 * Majority and joint-majority arithmetic. A joint configuration is two majorities that must
 * both agree; an empty majority agrees with everything (so a non-joint config is simply a
 * joint one whose outgoing half is empty).
 */

export type VoteResult = 'won' | 'lost' | 'pending';

/**
 * The largest index acknowledged by a majority of `voters`, where `ackedIndex(id)` says what
 * each has acknowledged. An empty set returns +Infinity so that it never limits a joint result.
 */
export function majorityCommitted(voters: ReadonlySet<number>, ackedIndex: (id: number) => number): number {
  if (voters.size === 0) return Number.POSITIVE_INFINITY;
  const acked = [...voters].map(ackedIndex).sort((a, b) => b - a);
  const quorumIndex = Math.floor(voters.size / 2);
  return acked[quorumIndex] ?? 0;
}

export function jointCommitted(
  incoming: ReadonlySet<number>,
  outgoing: ReadonlySet<number>,
  ackedIndex: (id: number) => number,
): number {
  return Math.min(majorityCommitted(incoming, ackedIndex), majorityCommitted(outgoing, ackedIndex));
}

export function majorityVote(voters: ReadonlySet<number>, votes: ReadonlyMap<number, boolean>): VoteResult {
  if (voters.size === 0) return 'won';
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const vote = votes.get(id);
    if (vote === undefined) missing++;
    else if (vote) granted++;
  }
  const quorum = Math.floor(voters.size / 2) + 1;
  if (granted >= quorum) return 'won';
  if (granted + missing >= quorum) return 'pending';
  return 'lost';
}

export function jointVote(
  incoming: ReadonlySet<number>,
  outgoing: ReadonlySet<number>,
  votes: ReadonlyMap<number, boolean>,
): VoteResult {
  const a = majorityVote(incoming, votes);
  const b = majorityVote(outgoing, votes);
  if (a === 'won' && b === 'won') return 'won';
  if (a === 'lost' || b === 'lost') return 'lost';
  return 'pending';
}
