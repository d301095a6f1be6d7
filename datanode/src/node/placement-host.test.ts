/**
 * The node's placement settings: locality labels from --locality, and driver limits from the
 * flags that the placement driver accepts (checkDriverLimits) and that map to the planner.
 */
import { describe, expect, it } from 'vitest';
import { checkDriverLimits } from '../placement/driver.ts';
import { nodeConfigSchema } from './config.ts';
import { driverLimitsOf, localityFromAnnotations, parseLocality, placementTickMs } from './placement-host.ts';

describe('placement host settings', () => {
  it('parses locality labels in either order, defaulting a missing one', () => {
    expect(parseLocality('region=eu,zone=eu-a')).toEqual({ region: 'eu', zone: 'eu-a' });
    expect(parseLocality('zone=b,region=us')).toEqual({ region: 'us', zone: 'b' });
    expect(parseLocality('zone=c')).toEqual({ region: 'default', zone: 'c' });
  });

  it('reads the topology labels from a downward-API annotations file, defaulting missing or bad ones', () => {
    const file = ['phantomdb.io/config-hash="abc"', 'topology.kubernetes.io/zone="eu-west-1a"', 'topology.kubernetes.io/region="eu-\\"west\\"-1"', ''].join('\n');
    expect(localityFromAnnotations(file)).toEqual({ region: 'eu-"west"-1', zone: 'eu-west-1a' });
    expect(localityFromAnnotations('topology.kubernetes.io/zone=""\nnot a line')).toEqual({ region: 'default', zone: 'default' });
  });

  it('refuses malformed --locality values in the config', () => {
    const base = { nodeId: 1, clusterId: 'c', dataDir: '/tmp/x' };
    expect(nodeConfigSchema.safeParse({ ...base, locality: 'zone=a' }).success).toBe(true);
    expect(nodeConfigSchema.safeParse({ ...base, locality: 'zone a' }).success).toBe(false);
    expect(nodeConfigSchema.safeParse({ ...base, locality: 'rack=1' }).success).toBe(false);
  });

  it('derives valid driver limits from the flags (defaults and extremes)', () => {
    const defaults = nodeConfigSchema.parse({ nodeId: 1, clusterId: 'c', dataDir: '/tmp/x' });
    for (const flags of [defaults, { rebalanceConcurrency: 1, snapshotRateBytes: 64 * 1024, deadNodeReplaceMs: 1000 }]) {
      const limits = driverLimitsOf(flags);
      expect(() => checkDriverLimits(limits)).not.toThrow();
      expect(limits.planner.concurrentMovesMax).toBe(flags.rebalanceConcurrency);
      expect(limits.copyBytesPerSecondMax).toBe(flags.snapshotRateBytes);
      // Two copies of ranges holding four seconds' worth of the rate may be in flight at once (pipelined).
      expect(limits.planner.bytesInFlightMax).toBeGreaterThanOrEqual(2 * 4 * flags.snapshotRateBytes);
      expect(limits.planner.deadAfterTicks * placementTickMs).toBeGreaterThanOrEqual(flags.deadNodeReplaceMs);
    }
  });
});
