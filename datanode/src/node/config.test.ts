import { describe, expect, it } from 'vitest';
import { ConfigError, loadNodeConfig } from './config.ts';
import { startUsage } from './start.ts';

const required = { 'node-id': '1', 'cluster-id': 'c1', 'data-dir': '/tmp/phantomdb-config-test' };

describe('--metrics', () => {
  it('is on by default, set by PHANTOMDB_METRICS, and the flag wins over the environment', () => {
    expect(loadNodeConfig(required, {}).metrics).toBe('on');
    expect(loadNodeConfig(required, { PHANTOMDB_METRICS: 'off' }).metrics).toBe('off');
    expect(loadNodeConfig(required, { PHANTOMDB_METRICS: 'FALSE' }).metrics).toBe('off');
    expect(loadNodeConfig(required, { PHANTOMDB_METRICS: '0' }).metrics).toBe('off');
    expect(loadNodeConfig({ ...required, metrics: 'on' }, { PHANTOMDB_METRICS: 'off' }).metrics).toBe('on');
    expect(loadNodeConfig({ ...required, metrics: 'off' }, {}).metrics).toBe('off');
  });

  it('refuses other values, naming the flag', () => {
    expect(() => loadNodeConfig({ ...required, metrics: 'maybe' }, {})).toThrow(ConfigError);
    expect(() => loadNodeConfig({ ...required, metrics: 'maybe' }, {})).toThrow(/metrics \(from flag --metrics\): must be on or off/);
  });

  it('is in --help', () => {
    expect(startUsage).toMatch(/--metrics on\|off\s+PHANTOMDB_METRICS/);
  });
});

describe('backup upload cap (--backup-rate-bytes)', () => {
  it('is off by default, set by the flag, and refuses a negative rate naming the flag', () => {
    expect(loadNodeConfig(required, {}).backupRateBytes).toBe(0);
    expect(loadNodeConfig({ ...required, 'backup-rate-bytes': String(50 * 1024 * 1024) }, {}).backupRateBytes).toBe(50 * 1024 * 1024);
    expect(() => loadNodeConfig({ ...required, 'backup-rate-bytes': '-1' }, {})).toThrow(/backup-rate-bytes/);
    expect(startUsage).toMatch(/--backup-rate-bytes N\s+backupRateBytes/);
  });

  it('--backup-concurrency (per node) defaults to 2 and refuses 0', () => {
    expect(loadNodeConfig(required, {}).backupConcurrency).toBe(2);
    expect(loadNodeConfig({ ...required, 'backup-concurrency': '8' }, {}).backupConcurrency).toBe(8);
    expect(() => loadNodeConfig({ ...required, 'backup-concurrency': '0' }, {})).toThrow(/backup-concurrency/);
    expect(startUsage).toMatch(/--backup-concurrency N\s+backupConcurrency/);
  });

  it('--backup-export-nice defaults to 10 (clients first) and stays within 0-19', () => {
    expect(loadNodeConfig(required, {}).backupExportNice).toBe(10);
    expect(loadNodeConfig({ ...required, 'backup-export-nice': '0' }, {}).backupExportNice).toBe(0);
    expect(() => loadNodeConfig({ ...required, 'backup-export-nice': '20' }, {})).toThrow(/backup-export-nice/);
    expect(startUsage).toMatch(/--backup-export-nice N\s+backupExportNice/);
  });
});

describe('load-aware snapshot pacing (--snapshot-pace-delay-ms, --snapshot-pace-floor)', () => {
  it('is on at 20 ms with a floor of 0.6 of the rate by default; flags and PHANTOMDB_* set it, the flag winning', () => {
    expect(loadNodeConfig(required, {})).toMatchObject({ snapshotPaceDelayMs: 20, snapshotPaceFloor: 0.6 });
    expect(loadNodeConfig({ ...required, 'snapshot-pace-delay-ms': '0' }, {}).snapshotPaceDelayMs).toBe(0);
    expect(loadNodeConfig(required, { PHANTOMDB_SNAPSHOT_PACE_DELAY_MS: '50', PHANTOMDB_SNAPSHOT_PACE_FLOOR: '0.75' })).toMatchObject({ snapshotPaceDelayMs: 50, snapshotPaceFloor: 0.75 });
    expect(loadNodeConfig({ ...required, 'snapshot-pace-floor': '0.6' }, { PHANTOMDB_SNAPSHOT_PACE_FLOOR: '0.75' }).snapshotPaceFloor).toBe(0.6);
  });

  it('refuses a floor of 0 (a copy could starve) or above 1 (over the configured limit), naming the flag', () => {
    expect(() => loadNodeConfig({ ...required, 'snapshot-pace-floor': '0' }, {})).toThrow(/snapshot-pace-floor/);
    expect(() => loadNodeConfig({ ...required, 'snapshot-pace-floor': '1.5' }, {})).toThrow(/snapshot-pace-floor/);
    expect(() => loadNodeConfig({ ...required, 'snapshot-pace-delay-ms': '-1' }, {})).toThrow(/snapshot-pace-delay-ms/);
    expect(startUsage).toMatch(/--snapshot-pace-delay-ms N\s+PHANTOMDB_SNAPSHOT_PACE_DELAY_MS/);
  });
});
