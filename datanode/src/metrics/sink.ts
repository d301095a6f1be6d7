/**
 * What a range replica and the Store report to the node's metrics as it happens: a small sink
 * passed in their options (absent when metrics are off: then nothing is timed). NodeMetrics
 * implements it; the helpers below time a call and report its outcome without changing it.
 */

/** Reported by the range replicas (and the Store, for snapshots it receives). */
export interface ReplicaMetricsSink {
  /** A proposal to a range ended: 'ok' or the error's PH_* code ('error' for others), and its duration. */
  proposalFinished(result: string, seconds: number): void;
  /** A Raft snapshot sent to a peer or received from one ended. */
  snapshotFinished(direction: 'sent' | 'received', result: 'succeeded' | 'failed'): void;
  /** Bytes of a snapshot stream went out to a peer (counted as they are paced out, sent or not in the end). */
  snapshotBytesSent(bytes: number): void;
  /** A replica's role or known leader changed (elections, transfers, step-downs). */
  roleChanged(): void;
}

/** 'ok' for no error, an expected failure's PH_* code, or 'error'. */
export function resultOf(err: unknown): string {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && /^PH_[A-Z_]{1,40}$/.test(code) ? code : 'error';
}

/**
 * Runs `propose` and reports its outcome and duration to `sink`: a synchronous throw (not the
 * leader, overloaded) and a rejection both count, and both are passed on unchanged.
 */
export function observeProposal<T>(sink: ReplicaMetricsSink | undefined, propose: () => Promise<T>): Promise<T> {
  if (sink === undefined) return propose();
  const startedMs = performance.now();
  let outcome: Promise<T>;
  try {
    outcome = propose();
  } catch (err) {
    sink.proposalFinished(resultOf(err), (performance.now() - startedMs) / 1000);
    throw err;
  }
  // Inline callbacks only: this runs for every proposal (a named closure costs more under tsx).
  outcome.then(
    () => sink.proposalFinished('ok', (performance.now() - startedMs) / 1000),
    (err: unknown) => sink.proposalFinished(resultOf(err), (performance.now() - startedMs) / 1000),
  );
  return outcome;
}

/** Runs `receive` (storing a snapshot's data) and reports whether it succeeded; its outcome is passed on. */
export async function observeSnapshotReceived(sink: ReplicaMetricsSink | undefined, receive: () => Promise<void>): Promise<void> {
  if (sink === undefined) return receive();
  try {
    await receive();
  } catch (err) {
    sink.snapshotFinished('received', 'failed');
    throw err;
  }
  sink.snapshotFinished('received', 'succeeded');
}
