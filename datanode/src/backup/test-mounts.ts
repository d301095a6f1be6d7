/**
 * Test-only emulation of a pod's mount namespace for volume backup destinations.
 *
 * In Kubernetes a volume destination is a path inside the data node's container (the claim of
 * PhantomCluster `spec.backup.volume` is mounted at `/var/lib/phantomdb-backup`), and the path
 * reaches the node at run time (in a Backup admin call, or in the --restore-from JSON), not in
 * its arguments. The project's Kubernetes API test server runs every pod as a process on one
 * machine, where that path does not exist: its kubelet sets PHANTOMDB_TEST_MOUNTS to the pod's
 * mounts as JSON (`{"<mount path>": "<host directory>"}`), and `hostPathOf` maps a path under a
 * mount to the directory that stands for it, as the kubelet already does for paths in args and
 * env. Without the variable (every real node) a path is returned unchanged.
 */

/** The mount table of PHANTOMDB_TEST_MOUNTS (empty when unset); a malformed value is an error. */
export function testMountsOf(env: NodeJS.ProcessEnv): ReadonlyMap<string, string> {
  const text = env['PHANTOMDB_TEST_MOUNTS'];
  if (text === undefined || text === '') return new Map();
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new TypeError('PHANTOMDB_TEST_MOUNTS must be a JSON object of mount path to directory');
  const mounts = new Map<string, string>();
  for (const [mountPath, hostDir] of Object.entries(parsed)) {
    if (typeof hostDir !== 'string' || !mountPath.startsWith('/')) throw new TypeError(`PHANTOMDB_TEST_MOUNTS: ${JSON.stringify(mountPath)} must map an absolute path to a directory`);
    mounts.set(mountPath.replace(/\/+$/, ''), hostDir);
  }
  return mounts;
}

/** The directory that stands for `path` (the longest mount path that contains it wins). */
export function hostPathOf(path: string, mounts: ReadonlyMap<string, string> = testMountsOf(process.env)): string {
  let best: [string, string] | undefined;
  for (const [mountPath, hostDir] of mounts) {
    const contains = path === mountPath || path.startsWith(`${mountPath}/`);
    if (contains && (best === undefined || mountPath.length > best[0].length)) best = [mountPath, hostDir];
  }
  return best === undefined ? path : best[1] + path.slice(best[0].length);
}
