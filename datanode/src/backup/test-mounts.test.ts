/** The test kubelet's mount table maps run-time paths under a mount to its directory; without it nothing changes. */
import { describe, expect, it } from 'vitest';
import { hostPathOf, testMountsOf } from './test-mounts.ts';

describe('test mounts', () => {
  it('map a path under the longest containing mount, and leave others alone', () => {
    const mounts = testMountsOf({ PHANTOMDB_TEST_MOUNTS: JSON.stringify({ '/var/lib/phantomdb-backup/': '/tmp/claims/b', '/var/lib/phantomdb': '/tmp/claims/data', '/tmp': '/tmp/pod/tmp' }) });
    expect(hostPathOf('/var/lib/phantomdb-backup/nightly', mounts)).toBe('/tmp/claims/b/nightly');
    expect(hostPathOf('/var/lib/phantomdb-backup', mounts)).toBe('/tmp/claims/b');
    expect(hostPathOf('/var/lib/phantomdb/raft', mounts)).toBe('/tmp/claims/data/raft');
    expect(hostPathOf('/var/lib/phantomdbx', mounts)).toBe('/var/lib/phantomdbx');
    expect(hostPathOf('/srv/backups', mounts)).toBe('/srv/backups');
  });
  it('are empty without the variable, and refuse a malformed one', () => {
    expect(testMountsOf({}).size).toBe(0);
    expect(hostPathOf('/var/lib/phantomdb-backup/x', testMountsOf({}))).toBe('/var/lib/phantomdb-backup/x');
    expect(() => testMountsOf({ PHANTOMDB_TEST_MOUNTS: '["/a"]' })).toThrow(TypeError);
    expect(() => testMountsOf({ PHANTOMDB_TEST_MOUNTS: '{"relative": "/x"}' })).toThrow(/absolute path/);
  });
});
