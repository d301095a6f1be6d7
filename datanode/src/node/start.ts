/**
 * `phantomdb-node start`: reads the configuration, starts a DataNode, and stops it gracefully
 * on SIGTERM/SIGINT (leadership handed off first). Resolves with the process exit code.
 */
import { parseArgs } from 'node:util';
import { ConfigError, flagFields, loadNodeConfig } from './config.ts';
import { PodPeerFinder, podManagesNodeId, podNetworkOf, preparePodDataDir, resolvePodNodeId, withPodNodeId } from './k8s-identity.ts';
import { createRaftTransport } from './raft-transport.ts';
import { DataNode } from './node.ts';

export const startUsage = `Usage: phantomdb-node start [OPTIONS]

Runs a PhantomDB data node: one Raft replica of the key-value store, the node-to-node Raft
transport on --grpc-listen, the gRPC KV and Admin APIs on --kv-listen, and /healthz, /readyz,
/status on --http-listen.

Options (flag / environment variable / config-file field):
  --config FILE                 PHANTOMDB_CONFIG          YAML or JSON file with the fields below
  --node-id N                   PHANTOMDB_NODE_ID         nodeId: this node's id (>= 1, never reused)
  --cluster-id ID               PHANTOMDB_CLUSTER_ID      clusterId: the cluster this node belongs to
  --data-dir DIR                PHANTOMDB_DATA_DIR        dataDir: remembers its cluster and node id
  --grpc-listen HOST:PORT       PHANTOMDB_GRPC_LISTEN     grpcListen: Raft transport (default 0.0.0.0:7000; port 0: any)
  --kv-listen HOST:PORT         PHANTOMDB_KV_LISTEN       kvListen: the KV API (default 0.0.0.0:7010)
  --http-listen HOST:PORT       PHANTOMDB_HTTP_LISTEN     httpListen (default 0.0.0.0:8080)
  --advertise-host HOST         PHANTOMDB_ADVERTISE_HOST  advertiseHost: how others reach this node
  --peers ID=HOST:PORT,...      PHANTOMDB_PEERS           peers: initial voters (Raft addresses), this node included
  --join HOST:PORT              PHANTOMDB_JOIN            join: the KV address of a member of a running cluster
  --tick-ms N                   PHANTOMDB_TICK_MS         tickMs: Raft tick (default 100)
  --election-timeout-ticks N    PHANTOMDB_ELECTION_TIMEOUT_TICKS  electionTimeoutTicks (default 10)
  --read-mode MODE              PHANTOMDB_READ_MODE       readMode: read-index (default) or lease
  --replication-factor N        PHANTOMDB_REPLICATION_FACTOR  replicationFactor: voters to keep (default 3)
  --compaction-entries N                                  compactionEntries: log entries kept before compaction
  --range-max-bytes N           PHANTOMDB_RANGE_MAX_BYTES  rangeMaxBytes: split a range past this size (default 64 MiB)
  --value-bytes-max N                                     valueBytesMax: largest value accepted
  --metrics on|off              PHANTOMDB_METRICS         metrics: Prometheus /metrics on the HTTP port (default on)
  --locality region=R,zone=Z    PHANTOMDB_LOCALITY        locality: topology labels; replicas spread across zones
  --rebalance-concurrency N                               rebalanceConcurrency: replica moves at once (default 4)
  --snapshot-rate-bytes N                                 snapshotRateBytes: bytes/s copied to new replicas (default 32 MiB)
  --snapshot-pace-delay-ms N    PHANTOMDB_SNAPSHOT_PACE_DELAY_MS  snapshotPaceDelayMs: slow snapshot streams while the event-loop delay p99 exceeds this (default 20; 0: off)
  --snapshot-pace-floor F       PHANTOMDB_SNAPSHOT_PACE_FLOOR  snapshotPaceFloor: share of --snapshot-rate-bytes they keep at the least (default 0.6)
  --dead-node-replace-ms N                                deadNodeReplaceMs: replace a dead node's replicas after (default 60000)
  --backup-rate-bytes N                                   backupRateBytes: bytes/s this node's backup exports write (default 0: no limit)
  --backup-concurrency N                                  backupConcurrency: range pieces this node exports at once for a backup (default 2)
  --backup-export-nice N                                  backupExportNice: nice value (0-19) of the backup export thread (default 10: clients first)
Flags override environment variables, which override the file. A new data directory needs
--peers or --join; a restart needs neither. As a StatefulSet pod (PHANTOMDB_NODE_NAME <name>-N
and PHANTOMDB_PEER_SERVICE set; see k8s-identity.ts) without a node id, a data directory keeps
the id it records and a new one needs no flags: ordinal 0 is node 1 and starts a cluster when
none exists; the others wait for the operator to assign them a fresh id, then to add them.

Example (three nodes on one machine):
  phantomdb-node start --node-id 1 --cluster-id demo --data-dir /tmp/p1 --grpc-listen 127.0.0.1:7001 \\
    --kv-listen 127.0.0.1:7011 --http-listen 127.0.0.1:8081 --peers 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003
  (and the same with ids 2 and 3, ports 7002/7012/8082 and 7003/7013/8083)`;

export async function runStart(args: string[]): Promise<number> {
  const options: Record<string, { type: 'string' }> = { config: { type: 'string' } };
  for (const flag of Object.keys(flagFields)) options[flag] = { type: 'string' };
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({ args, options, strict: true, allowPositionals: false }).values as Record<string, string | undefined>;
  } catch (err) {
    console.error(`phantomdb-node start: ${err instanceof Error ? err.message : String(err)} (see --help)`);
    return 2;
  }
  let config: ReturnType<typeof loadNodeConfig>;
  try {
    config = loadNodeConfig(values, withPodNodeId(process.env, values));
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`phantomdb-node start: ${err.message}`);
      return 2;
    }
    throw err;
  }
  // As a StatefulSet pod (k8s-identity.ts): a new data directory bootstraps (ordinal 0) or waits
  // uninitialized for the operator; peers not yet in the address book are found by pod DNS name.
  const podNetwork = podNetworkOf(config, process.env);
  if (podNetwork !== undefined && config.peers === undefined && config.join === undefined) {
    if (podManagesNodeId(process.env, values)) {
      const pod = podNetwork.pod.podName;
      config = { ...config, nodeId: await resolvePodNodeId(config, podNetwork, (line) => console.log(`[pod ${pod}] ${line}`)) };
    }
    const nodeId = config.nodeId;
    await preparePodDataDir(config, podNetwork, (line) => console.log(`[node ${nodeId}] ${line}`));
  }
  const peerFinder = podNetwork === undefined ? undefined : new PodPeerFinder(podNetwork, config.clusterId);
  const node = await DataNode.start(config, {
    transportFactory: (context) => createRaftTransport(peerFinder === undefined ? context : { ...context, resolvePeer: (id) => context.resolvePeer(id) ?? peerFinder.resolve(id) }),
  });
  await new Promise<void>((resolve) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (signalled) {
        console.error(`${signal} again: exiting now`);
        process.exit(1);
      }
      signalled = true;
      console.log(`[node ${config.nodeId}] ${signal}: shutting down gracefully`);
      peerFinder?.close();
      node.stop().then(resolve, (err: unknown) => {
        console.error(`shutdown failed: ${err instanceof Error ? err.message : String(err)}`);
        process.exitCode = 1;
        resolve();
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}
