import { describe, expect, it } from 'vitest';
import { OperatorMetrics, operationKinds } from './metrics.ts';

function lines(text: string, name: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

describe('OperatorMetrics', () => {
  it('counts clusters by namespace and phase, following phase changes and deletions', async () => {
    const metrics = new OperatorMetrics();
    metrics.setClusterPhase('a/one', 'a', 'Creating');
    metrics.setClusterPhase('a/two', 'a', 'Available');
    metrics.setClusterPhase('a/one', 'a', 'Available');
    let text = await metrics.registry.metrics();
    expect(lines(text, 'phantomdb_operator_clusters')).toEqual(['phantomdb_operator_clusters{namespace="a",phase="Available"} 2']);
    metrics.setClusterPhase('a/two', 'a', undefined);
    text = await metrics.registry.metrics();
    expect(lines(text, 'phantomdb_operator_clusters')).toEqual(['phantomdb_operator_clusters{namespace="a",phase="Available"} 1']);
  });

  it('gives every known cluster backup series, records backups, and drops them with the cluster', async () => {
    const metrics = new OperatorMetrics();
    metrics.setClusterPhase('prod/db', 'prod', 'Available');
    let text = await metrics.registry.metrics();
    expect(lines(text, 'phantomdb_operator_backup_last_success_timestamp_seconds')).toEqual(['phantomdb_operator_backup_last_success_timestamp_seconds{namespace="prod",cluster="db"} 0']);
    expect(lines(text, 'phantomdb_operator_backups_total')).toHaveLength(2);
    metrics.setBackupSchedule('prod', 'db', 3600);
    metrics.recordBackup('prod', 'db', 'failed', 1000);
    metrics.recordBackup('prod', 'db', 'succeeded', 2000);
    metrics.recordBackup('prod', 'db', 'failed', 3000);
    text = await metrics.registry.metrics();
    expect(lines(text, 'phantomdb_operator_backup_last_success_timestamp_seconds')).toEqual(['phantomdb_operator_backup_last_success_timestamp_seconds{namespace="prod",cluster="db"} 2000']);
    expect(lines(text, 'phantomdb_operator_backups_total')).toContain('phantomdb_operator_backups_total{namespace="prod",cluster="db",result="failed"} 2');
    expect(lines(text, 'phantomdb_operator_backup_schedule_interval_seconds')).toEqual(['phantomdb_operator_backup_schedule_interval_seconds{namespace="prod",cluster="db"} 3600']);
    metrics.setClusterPhase('prod/db', 'prod', undefined);
    text = await metrics.registry.metrics();
    expect(lines(text, 'phantomdb_operator_backup_last_success_timestamp_seconds')).toEqual([]);
    expect(lines(text, 'phantomdb_operator_backups_total')).toEqual([]);
  });

  it('exports an operation duration series for every kind and result before the first operation', async () => {
    const metrics = new OperatorMetrics();
    metrics.observeOperation('ScaleIn', 'succeeded', 42);
    const text = await metrics.registry.metrics();
    const counts = lines(text, 'phantomdb_operator_operation_duration_seconds_count');
    expect(counts).toHaveLength(operationKinds.length * 2);
    expect(counts).toContain('phantomdb_operator_operation_duration_seconds_count{kind="ScaleIn",result="succeeded"} 1');
    expect(counts).toContain('phantomdb_operator_operation_duration_seconds_count{kind="Upgrade",result="failed"} 0');
    expect(counts).toContain('phantomdb_operator_operation_duration_seconds_count{kind="Restart",result="succeeded"} 0');
  });
});
