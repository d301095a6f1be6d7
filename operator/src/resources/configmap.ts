/**
 * The data node configuration, as a ConfigMap the nodes read at start. Its content hash goes into
 * the pod template, so a configuration change rolls the nodes (one at a time, by the operator).
 */
import type { V1ConfigMap } from '@kubernetes/client-node';
import type { PhantomCluster } from '../api/index.ts';
import { canonicalJson } from './hash.ts';
import { objectNames, ownedMeta } from './meta.ts';

/** File name of the configuration inside the ConfigMap and the mounted directory. */
export const configFileName = 'phantomdb.json';
export const configMountPath = '/etc/phantomdb/config';

/** The data node's accepted range for its Raft tick and election timeout (datanode/src/node/config.ts). */
const tickMsMin = 5;
const tickMsMax = 1000;
const electionTimeoutTicksMin = 3;
const electionTimeoutTicksMax = 1000;
const compactionEntriesMin = 16;

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/**
 * What a data node reads, in the node's own schema (datanode/src/node/config.ts, which rejects
 * unknown fields): only settings shared by every node. Identity, listeners and the advertised
 * host come from the pod (environment, see statefulset.ts), so every node shares one file.
 *
 * Mapping from spec.config: raft.heartbeatIntervalMs is the node's tick (it sends a heartbeat
 * every tick), raft.electionTimeoutMs becomes whole ticks (above the heartbeat), and
 * raft.snapshotIntervalEntries is the number of log entries kept before compaction. logLevel,
 * storage, sql and extraSettings have no data node setting yet and are not written (the node
 * would refuse to start on a field it does not know).
 */
export function dataNodeConfig(cluster: PhantomCluster): Record<string, unknown> {
  const { config } = cluster.spec;
  const node: Record<string, unknown> = { replicationFactor: cluster.spec.replicationFactor };
  const raft = config.raft ?? {};
  if (raft.heartbeatIntervalMs !== undefined) node.tickMs = clamp(raft.heartbeatIntervalMs, tickMsMin, tickMsMax);
  if (raft.electionTimeoutMs !== undefined) {
    const tickMs = typeof node.tickMs === 'number' ? node.tickMs : 100;
    node.electionTimeoutTicks = clamp(Math.ceil(raft.electionTimeoutMs / tickMs), electionTimeoutTicksMin, electionTimeoutTicksMax);
  }
  if (raft.snapshotIntervalEntries !== undefined) node.compactionEntries = Math.max(compactionEntriesMin, raft.snapshotIntervalEntries);
  return node;
}

export function desiredConfigMap(cluster: PhantomCluster): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: ownedMeta(cluster, objectNames(cluster).configMap, 'config'),
    data: { [configFileName]: `${JSON.stringify(JSON.parse(canonicalJson(dataNodeConfig(cluster))), null, 2)}\n` },
  };
}
