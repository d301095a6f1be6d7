/**
 * The two Services of a cluster: a headless one that gives every data node a stable DNS name for
 * its peers, and the client Service applications connect to.
 */
import type { V1Service } from '@kubernetes/client-node';
import type { PhantomCluster } from '../api/index.ts';
import { objectNames, ownedMeta, selectorLabels } from './meta.ts';
import { ports } from './ports.ts';

/**
 * Headless Service `<name>-nodes`: pod DNS names (`<name>-0.<name>-nodes.<namespace>.svc`) for the
 * peer port. It publishes not-ready addresses because a node is not ready until it has joined the
 * cluster, and joining needs its peers to reach it.
 */
export function desiredHeadlessService(cluster: PhantomCluster): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: ownedMeta(cluster, objectNames(cluster).headlessService, 'peers'),
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: selectorLabels(cluster),
      ports: [
        { name: 'peer', port: ports.peer, targetPort: 'peer', protocol: 'TCP', appProtocol: 'grpc' },
        { name: 'kv', port: ports.kv, targetPort: 'kv', protocol: 'TCP', appProtocol: 'grpc' },
      ],
    },
  };
}

/** Client Service `<name>`: PostgreSQL (5432), HTTP (8080) and the gRPC KV API (7010) on ready data nodes; type and annotations from spec.service. */
export function desiredClientService(cluster: PhantomCluster): V1Service {
  const { service } = cluster.spec;
  const extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {};
  if (service.labels !== undefined) extra.labels = service.labels;
  if (service.annotations !== undefined) extra.annotations = service.annotations;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: ownedMeta(cluster, objectNames(cluster).clientService, 'client', extra),
    spec: {
      type: service.type,
      selector: selectorLabels(cluster),
      ports: [
        { name: 'sql', port: ports.sql, targetPort: 'sql', protocol: 'TCP', appProtocol: 'postgresql' },
        { name: 'http', port: ports.http, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' },
        { name: 'kv', port: ports.kv, targetPort: 'kv', protocol: 'TCP', appProtocol: 'grpc' },
      ],
    },
  };
}
