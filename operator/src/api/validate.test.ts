import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { validateCluster, validateClusterSpec, validateClusterSpecChange } from './validate.ts';
import { phantomBackupSchema, phantomScheduledBackupSchema } from './backup.ts';
import type { PhantomClusterSpec } from './cluster.ts';
import { quantityToNumber } from './common.ts';

const repoRoot = join(import.meta.dirname, '..', '..', '..');

function validSpec(): PhantomClusterSpec {
  const result = validateClusterSpec({ replicas: 3, version: '1.2.3', storage: { size: '10Gi' } });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.value;
}

function errorsOf(spec: unknown): { path: string; message: string }[] {
  const result = validateClusterSpec(spec);
  if (result.ok) throw new Error('expected the spec to be invalid');
  return [...result.errors];
}

describe('validateClusterSpec', () => {
  it('fills in the defaults a user leaves out', () => {
    const spec = validSpec();
    expect(spec.replicationFactor).toBe(3);
    expect(spec.storage.reclaimPolicy).toBe('Retain');
    expect(spec.service).toEqual({ type: 'ClusterIP' });
    expect(spec.podDisruptionBudget).toEqual({ enabled: true, maxUnavailable: 1 });
    expect(spec.config.logLevel).toBe('info');
    expect(spec.paused).toBe(false);
    expect(spec.topologyKeys).toEqual(['topology.kubernetes.io/region', 'topology.kubernetes.io/zone']);
  });

  it('says when the replication factor exceeds the replicas, with both values', () => {
    expect(errorsOf({ replicas: 1, version: '1.2.3', storage: { size: '1Gi' } })).toEqual([
      { path: 'spec.replicationFactor', message: 'spec.replicationFactor (3) must not exceed spec.replicas (1)' },
    ]);
  });

  it('refuses an even replication factor', () => {
    const [error] = errorsOf({ replicas: 5, replicationFactor: 4, version: '1.2.3', storage: { size: '1Gi' } });
    expect(error?.path).toBe('spec.replicationFactor');
    expect(error?.message).toMatch(/must be 1, 3, 5 or 7/);
  });

  it('names every bad field with its path', () => {
    const errors = errorsOf({ replicas: 0, version: 'latest', storage: { size: 'ten gigs', reclaimPolicy: 'Recycle' }, tolerations: 'none' });
    const byPath = new Map(errors.map((error) => [error.path, error.message]));
    expect(byPath.get('spec.replicas')).toBe('spec.replicas must be at least 1 (got 0)');
    expect(byPath.get('spec.version')).toMatch(/^spec.version must be a version such as "1.2.3"/);
    expect(byPath.get('spec.storage.size')).toMatch(/^spec.storage.size must be a quantity/);
    expect(byPath.get('spec.storage.reclaimPolicy')).toBe('spec.storage.reclaimPolicy must be one of "Retain", "Delete" (got "Recycle")');
    expect(byPath.get('spec.tolerations')).toBe('spec.tolerations must be an array, not "none"');
  });

  it('reports a missing required field as required', () => {
    expect(errorsOf({ storage: { size: '1Gi' } })).toEqual([{ path: 'spec.version', message: 'spec.version is required' }]);
  });

  it('keeps a PodDisruptionBudget from taking a majority of a range down', () => {
    const errors = errorsOf({ replicas: 5, replicationFactor: 3, version: '1.2.3', storage: { size: '1Gi' }, podDisruptionBudget: { maxUnavailable: 2 } });
    expect(errors).toEqual([
      { path: 'spec.podDisruptionBudget.maxUnavailable', message: 'spec.podDisruptionBudget.maxUnavailable (2) must be 1 or less than half of spec.replicationFactor (3)' },
    ]);
    expect(validateClusterSpec({ replicas: 5, replicationFactor: 5, version: '1.2.3', storage: { size: '1Gi' }, podDisruptionBudget: { maxUnavailable: 2 } }).ok).toBe(true);
  });

  it('refuses a zero volume size', () => {
    expect(errorsOf({ version: '1.2.3', storage: { size: '0Gi' } })).toEqual([{ path: 'spec.storage.size', message: 'spec.storage.size must be greater than zero (got "0Gi")' }]);
  });

  it('needs exactly one source for a restore', () => {
    const errors = errorsOf({ version: '1.2.3', storage: { size: '1Gi' }, bootstrap: { fromBackup: {} } });
    expect(errors.map((error) => error.message)).toContain('spec.bootstrap.fromBackup needs exactly one of backupName or destination');
  });
});

describe('validateCluster', () => {
  it('accepts the examples as they are', () => {
    for (const file of ['cluster-local.yaml', 'cluster.yaml', 'cluster-upgrade.yaml']) {
      const result = validateCluster(parse(readFileSync(join(repoRoot, 'examples', file), 'utf8')));
      expect(result.ok ? [] : result.errors, file).toEqual([]);
    }
  });

  it('refuses names too long for the pods derived from them', () => {
    const result = validateCluster({ apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomCluster', metadata: { name: 'x'.repeat(53) }, spec: { version: '1.0.0', storage: { size: '1Gi' } } });
    expect(result.ok ? [] : result.errors.map((error) => error.path)).toEqual(['metadata.name']);
  });
});

describe('validateClusterSpecChange', () => {
  it('refuses a shrinking volume, a new storage class and a changed bootstrap', () => {
    const previous = validSpec();
    const next: PhantomClusterSpec = { ...previous, storage: { ...previous.storage, size: '5Gi', storageClassName: 'fast' }, bootstrap: { fromBackup: { backupName: 'b1' } } };
    expect(validateClusterSpecChange(previous, next).map((error) => error.path)).toEqual(['spec.storage.storageClassName', 'spec.storage.size', 'spec.bootstrap']);
    expect(validateClusterSpecChange(previous, { ...previous, storage: { ...previous.storage, size: '20Gi' } })).toEqual([]);
  });
});

describe('quantities', () => {
  it('reads binary and decimal suffixes and exponents', () => {
    expect(quantityToNumber('10Gi')).toBe(10 * 2 ** 30);
    expect(quantityToNumber('500m')).toBe(0.5);
    expect(quantityToNumber('1e3')).toBe(1000);
    expect(quantityToNumber('2k')).toBe(2000);
    expect(quantityToNumber(7)).toBe(7);
    expect(quantityToNumber('ten')).toBeNaN();
  });
});

describe('backup kinds', () => {
  const meta = { name: 'b1', namespace: 'default' };
  it('need exactly one destination', () => {
    const both = phantomBackupSchema.safeParse({ apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomBackup', metadata: meta, spec: { cluster: 'c', destination: { s3: { bucket: 'bkt' }, volume: { claimName: 'v' } } } });
    expect(both.success).toBe(false);
    const s3 = phantomBackupSchema.parse({ apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomBackup', metadata: meta, spec: { cluster: 'c', destination: { s3: { bucket: 'bkt', endpoint: 'http://127.0.0.1:4568', forcePathStyle: true } } } });
    expect(s3.spec.type).toBe('Full');
    expect(s3.spec.destination.s3?.region).toBe('us-east-1');
  });
  it('scheduled backups check the schedule and retention', () => {
    const base = { apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomScheduledBackup', metadata: meta };
    const good = phantomScheduledBackupSchema.parse({ ...base, spec: { cluster: 'c', schedule: '0 3 * * *', destination: { volume: { claimName: 'backups' } }, retention: { keepLast: 2 } } });
    expect(good.spec.suspend).toBe(false);
    expect(phantomScheduledBackupSchema.safeParse({ ...base, spec: { cluster: 'c', schedule: 'often', destination: { volume: { claimName: 'b' } } } }).success).toBe(false);
    expect(phantomScheduledBackupSchema.safeParse({ ...base, spec: { cluster: 'c', schedule: '@daily', destination: { volume: { claimName: 'b' } }, retention: {} } }).success).toBe(false);
  });
});
