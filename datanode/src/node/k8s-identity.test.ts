import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RaftLogEngine } from '../raft/logstore/index.ts';
import { realFs } from '../storage/fs.ts';
import { loadNodeConfig } from './config.ts';
import { podIdentityOf, podNetworkOf, podRaftAddress, preparePodDataDir, withPodNodeId } from './k8s-identity.ts';
import { kvGroupId } from './node.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'phantomdb-k8s-identity-'));
  dirs.push(dir);
  return dir;
}

/** A pod's environment; `.invalid` names never resolve (RFC 6761), so no peer pod "exists". */
function podEnv(podName: string, dataDir: string): NodeJS.ProcessEnv {
  return { PHANTOMDB_NODE_NAME: podName, PHANTOMDB_PEER_SERVICE: 'nodes.invalid', PHANTOMDB_CLUSTER_ID: 'demo', PHANTOMDB_DATA_DIR: dataDir };
}

async function groupVoters(dataDir: string): Promise<number[]> {
  const logStore = await RaftLogEngine.open(realFs, path.join(dataDir, 'raft'));
  try {
    return [...logStore.storageFor(kvGroupId).initialState().confState.voters];
  } finally {
    await logStore.close();
  }
}

describe('pod identity', () => {
  it('maps <name>-N to node N+1 and ignores names without an ordinal', () => {
    expect(podIdentityOf('db-0')).toEqual({ podName: 'db-0', statefulSet: 'db', ordinal: 0, nodeId: 1 });
    expect(podIdentityOf('my-db-12')?.nodeId).toBe(13);
    expect(podIdentityOf('my-db-12')?.statefulSet).toBe('my-db');
    expect(podIdentityOf('laptop')).toBeUndefined();
    expect(podIdentityOf('db-')).toBeUndefined();
  });

  it('fills PHANTOMDB_NODE_ID from the pod name unless a flag or the variable gives one', () => {
    expect(withPodNodeId({ PHANTOMDB_NODE_NAME: 'db-2' }, {}).PHANTOMDB_NODE_ID).toBe('3');
    expect(withPodNodeId({ HOSTNAME: 'db-4' }, {}).PHANTOMDB_NODE_ID).toBe('5');
    expect(withPodNodeId({ PHANTOMDB_NODE_NAME: 'db-2', PHANTOMDB_NODE_ID: '9' }, {}).PHANTOMDB_NODE_ID).toBe('9');
    expect(withPodNodeId({ PHANTOMDB_NODE_NAME: 'db-2' }, { 'node-id': '7' }).PHANTOMDB_NODE_ID).toBeUndefined();
  });

  it('resolves peers it has no address for by pod DNS name', () => {
    const env = podEnv('db-1', '/tmp/unused');
    const config = loadNodeConfig({}, withPodNodeId(env, {}));
    const network = podNetworkOf(config, env);
    expect(network).toBeDefined();
    if (network === undefined) return;
    expect(podRaftAddress(network, 1)).toBe('db-0.nodes.invalid:7000');
    expect(podRaftAddress(network, 0)).toBeUndefined();
  });
});

describe('a new data directory of a pod', () => {
  it('bootstraps a one-voter cluster on ordinal 0 when no other pod exists, and restarts as is', async () => {
    const dataDir = tempDir();
    const env = podEnv('db-0', dataDir);
    const config = loadNodeConfig({}, withPodNodeId(env, {}));
    const network = podNetworkOf(config, env);
    if (network === undefined) throw new Error('expected pod mode');
    expect(await preparePodDataDir(config, network, () => undefined)).toBe('bootstrap');
    expect(await groupVoters(dataDir)).toEqual([1]);
    expect(await preparePodDataDir(config, network, () => undefined)).toBe('restart');
  });

  it('starts uninitialized (no members) on every other ordinal', async () => {
    const dataDir = tempDir();
    const env = podEnv('db-3', dataDir);
    const config = loadNodeConfig({}, withPodNodeId(env, {}));
    const network = podNetworkOf(config, env);
    if (network === undefined) throw new Error('expected pod mode');
    expect(await preparePodDataDir(config, network, () => undefined)).toBe('uninitialized');
    expect(await groupVoters(dataDir)).toEqual([]);
  });
});
