import { describe, expect, it } from 'vitest';
import { type RetainedBackup, selectExpiredBackups } from './retention.ts';

const day = 86_400_000;
const now = 100 * day;

function completed(name: string, ageDays: number, parent?: string): RetainedBackup {
  return { name, phase: 'Completed', timeMs: now - ageDays * day, backupId: `id-${name}`, parentBackupId: parent === undefined ? undefined : `id-${parent}` };
}

describe('selectExpiredBackups', () => {
  it('keeps the newest N completed backups', () => {
    const backups = [completed('a', 5), completed('b', 4), completed('c', 3), completed('d', 2)];
    expect(selectExpiredBackups(backups, { keepLast: 2 }, now)).toEqual(['a', 'b']);
    expect(selectExpiredBackups(backups, { keepLast: 10 }, now)).toEqual([]);
  });

  it('expires by age', () => {
    const backups = [completed('a', 9), completed('b', 8), completed('c', 1)];
    expect(selectExpiredBackups(backups, { maxAgeMs: 7 * day }, now)).toEqual(['a', 'b']);
  });

  it('keeps the whole chain a kept incremental needs', () => {
    // full f1 ← i1 ← i2 (chain 1), full f2 ← i3 (chain 2); keep the last 3: i3, f2, i2 → i2 needs i1 and f1.
    const backups = [completed('f1', 6), completed('i1', 5, 'f1'), completed('i2', 4, 'i1'), completed('f2', 3), completed('i3', 2, 'f2')];
    expect(selectExpiredBackups(backups, { keepLast: 3 }, now)).toEqual([]);
    expect(selectExpiredBackups(backups, { keepLast: 2 }, now)).toEqual(['f1', 'i1', 'i2']);
  });

  it('expires failed backups once a newer one completed, and never running ones', () => {
    const backups: RetainedBackup[] = [
      { name: 'failed-old', phase: 'Failed', timeMs: now - 3 * day, backupId: undefined, parentBackupId: undefined },
      completed('ok', 2),
      { name: 'failed-new', phase: 'Failed', timeMs: now - day, backupId: undefined, parentBackupId: undefined },
      { name: 'running', phase: 'Other', timeMs: now - 10 * day, backupId: 'id-running', parentBackupId: undefined },
    ];
    expect(selectExpiredBackups(backups, { keepLast: 1 }, now)).toEqual(['failed-old']);
  });

  it('expires nothing without a policy', () => {
    expect(selectExpiredBackups([completed('a', 500)], {}, now)).toEqual([]);
  });
});
