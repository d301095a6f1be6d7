/**
 * Which backups of a schedule expire, as a pure function. Chains are kept whole: a backup that a
 * kept incremental builds on (directly or through other incrementals) is kept too, or the kept
 * one could not be restored.
 */
export interface RetainedBackup {
  readonly name: string;
  readonly phase: 'Completed' | 'Failed' | 'Other';
  /** Completion time (ms) of a Completed backup, else its creation time. */
  readonly timeMs: number;
  readonly backupId: string | undefined;
  /** The backup ID this one builds on (incremental). */
  readonly parentBackupId: string | undefined;
}

export interface RetentionPolicy {
  readonly keepLast?: number | undefined;
  readonly maxAgeMs?: number | undefined;
}

/**
 * Names of the backups to delete. Completed backups beyond the newest `keepLast`, or older than
 * `maxAgeMs`, expire unless a kept backup needs them. Failed backups expire once a newer backup
 * completed. Backups still running never expire. Without a policy nothing expires.
 */
export function selectExpiredBackups(backups: readonly RetainedBackup[], policy: RetentionPolicy, nowMs: number): string[] {
  if (policy.keepLast === undefined && policy.maxAgeMs === undefined) return [];
  const completed = backups.filter((backup) => backup.phase === 'Completed').sort((a, b) => b.timeMs - a.timeMs || (a.name < b.name ? 1 : -1));
  const kept = new Set<string>();
  completed.forEach((backup, index) => {
    const withinCount = policy.keepLast === undefined || index < policy.keepLast;
    const withinAge = policy.maxAgeMs === undefined || nowMs - backup.timeMs <= policy.maxAgeMs;
    if (withinCount && withinAge) kept.add(backup.name);
  });
  // Keep every ancestor of a kept backup.
  const byId = new Map(completed.filter((backup) => backup.backupId !== undefined).map((backup) => [backup.backupId, backup]));
  for (const name of [...kept]) {
    let current = completed.find((backup) => backup.name === name);
    for (let hops = 0; current?.parentBackupId !== undefined && hops < completed.length; hops++) {
      const parent = byId.get(current.parentBackupId);
      if (parent === undefined) break;
      kept.add(parent.name);
      current = parent;
    }
  }
  const newestCompletedMs = completed[0]?.timeMs;
  const expired = completed.filter((backup) => !kept.has(backup.name)).map((backup) => backup.name);
  for (const backup of backups) {
    if (backup.phase === 'Failed' && newestCompletedMs !== undefined && backup.timeMs < newestCompletedMs) expired.push(backup.name);
  }
  return expired.sort();
}
