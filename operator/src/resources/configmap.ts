/**
 * The data node configuration, as a ConfigMap the nodes read at start. Its content hash goes into
 * the pod template, so a configuration change rolls the nodes (one at a time, by the operator).
 */
import type { V1ConfigMap } from '@kubernetes/client-node';
import type { PhantomCluster } from '../api/index.ts';
import { canonicalJson } from './hash.ts';
import { objectNames, ownedMeta } from './meta.ts';
import { ports } from './ports.ts';

/** File name of the configuration inside the ConfigMap and the mounted directory. */
export const configFileName = 'phantomdb.json';
export const configMountPath = '/etc/phantomdb/config';

/**
 * What a data node reads: listeners, where its peers are, which pod annotations carry its
 * locality, and the user's settings. Node identity is not here (it comes from the pod name), so
 * every node shares one file. Keys are sorted so the text is stable.
 */
export function dataNodeConfig(cluster: PhantomCluster): Record<string, unknown> {
  const names = objectNames(cluster);
  const { config } = cluster.spec;
  return {
    cluster: cluster.metadata.name,
    listen: { sqlPort: ports.sql, httpPort: ports.http, peerPort: ports.peer },
    peers: { service: names.headlessService, statefulSet: names.statefulSet },
    locality: { keys: cluster.spec.topologyKeys, annotationPrefix: 'topology.phantomdb.io/' },
    logLevel: config.logLevel,
    raft: config.raft ?? {},
    storage: config.storage ?? {},
    sql: config.sql ?? {},
    extraSettings: config.extraSettings ?? {},
  };
}

export function desiredConfigMap(cluster: PhantomCluster): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: ownedMeta(cluster, objectNames(cluster).configMap, 'config'),
    data: { [configFileName]: `${JSON.stringify(JSON.parse(canonicalJson(dataNodeConfig(cluster))), null, 2)}\n` },
  };
}
