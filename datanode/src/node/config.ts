/**
 * The data node's configuration: from an optional YAML/JSON file, then PHANTOMDB_* environment
 * variables, then command-line flags (each overriding the one before), validated with zod.
 * Errors name every bad field and where it came from.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { defaultKvLimits } from '../kv/limits.ts';

export class ConfigError extends Error {
  readonly code = 'PH_INVALID_OPTIONS';
  override readonly name = 'ConfigError';
}

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port')
  .refine((value) => Number(value.slice(value.lastIndexOf(':') + 1)) <= 65535, 'port must be at most 65535');

const nodeIdSchema = z.coerce.number().int('must be an integer').min(1, 'must be at least 1').max(Number.MAX_SAFE_INTEGER);

/** `1=127.0.0.1:7001,2=127.0.0.1:7002` or a map {1: "127.0.0.1:7001"} or a list of "id=address". */
const peersSchema = z.preprocess(
  (input) => {
    if (typeof input === 'string') input = input.split(',').map((part) => part.trim()).filter((part) => part !== '');
    if (Array.isArray(input)) {
      return input.map((item) => {
        if (typeof item !== 'string') return item;
        const at = item.indexOf('=');
        return at < 0 ? { id: item, address: '' } : { id: item.slice(0, at), address: item.slice(at + 1) };
      });
    }
    if (typeof input === 'object' && input !== null) return Object.entries(input).map(([id, address]) => ({ id, address }));
    return input;
  },
  z
    .array(z.object({ id: nodeIdSchema, address: hostPort }))
    .min(1, 'must name at least one peer')
    .max(7, 'at most 7 initial voters')
    .refine((peers) => new Set(peers.map((p) => p.id)).size === peers.length, 'node ids must be distinct'),
);

/** 'on' or 'off' (also true/false, 1/0, yes/no, any case). */
const onOff = z.preprocess((input) => {
  if (typeof input === 'boolean') return input ? 'on' : 'off';
  if (typeof input !== 'string') return input;
  const value = input.trim().toLowerCase();
  if (value === 'true' || value === '1' || value === 'yes') return 'on';
  if (value === 'false' || value === '0' || value === 'no') return 'off';
  return value;
}, z.enum(['on', 'off'], { error: 'must be on or off' }));

export const nodeConfigSchema = z
  .object({
    nodeId: nodeIdSchema,
    clusterId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit'),
    /** gRPC node-to-node Raft transport. */
    grpcListen: hostPort.default('0.0.0.0:7000'),
    /** gRPC KV API (clients). */
    kvListen: hostPort.default('0.0.0.0:7010'),
    httpListen: hostPort.default('0.0.0.0:8080'),
    /** The host other nodes and clients dial; default: the listen host (the hostname for 0.0.0.0). */
    advertiseHost: z.string().regex(/^[A-Za-z0-9.-]+$/, 'must be a host name or IPv4 address').optional(),
    dataDir: z.string().min(1, 'must not be empty'),
    /** The initial voters (this node included) of a new cluster. */
    peers: peersSchema.optional(),
    /** The gRPC address of a member of a running cluster to join. */
    join: hostPort.optional(),
    tickMs: z.coerce.number().int().min(5).max(1000).default(100),
    electionTimeoutTicks: z.coerce.number().int().min(3).max(1000).default(10),
    heartbeatTimeoutTicks: z.coerce.number().int().min(1).max(100).default(1),
    readMode: z.enum(['read-index', 'lease']).default('read-index'),
    /** Voters the cluster keeps: decommissions that would leave fewer are refused; fewer healthy ones is under-replicated. */
    replicationFactor: z.coerce.number().int().min(1).max(7).default(3),
    /** Raft log entries kept after applying before the log is compacted into a snapshot. */
    compactionEntries: z.coerce.number().int().min(16).max(10_000_000).default(20_000),
    /** A range whose user data grows past this many bytes is split in two. */
    rangeMaxBytes: z.coerce.number().int().min(1024).max(16 * 1024 * 1024 * 1024).default(64 * 1024 * 1024),
    keyBytesMax: z.coerce.number().int().min(1).max(64 * 1024).default(defaultKvLimits.keyBytesMax),
    valueBytesMax: z.coerce.number().int().min(1).max(64 * 1024 * 1024).default(defaultKvLimits.valueBytesMax),
    scanRowsMax: z.coerce.number().int().min(1).max(1_000_000).default(defaultKvLimits.scanRowsMax),
    proposalsInFlightMax: z.coerce.number().int().min(1).max(1_000_000).default(defaultKvLimits.proposalsInFlightMax),
    requestDeadlineMaxMs: z.coerce.number().int().min(10).max(600_000).default(defaultKvLimits.requestDeadlineMaxMs),
    /** /readyz fails while the applied index lags the commit index by more than this. */
    readyLagEntriesMax: z.coerce.number().int().min(0).default(1000),
    /** Prometheus metrics on /metrics; 'off' installs no metric hooks and /metrics answers 404. */
    metrics: onOff.default('on'),
    /** The clock offset bound of the node's HLC: a timestamp further ahead than this is refused. */
    maxClockOffsetMs: z.coerce.number().int().min(1).max(60_000).default(500),
    /** MVCC versions shadowed longer than this (and not protected by a backup) are garbage-collected (default 25 h). */
    gcTtlMs: z.coerce.number().int().min(1000).max(365 * 24 * 3600 * 1000).default(25 * 3600 * 1000),
    /**
     * A new cluster starts with the data of this backup (JSON, restore.ts restoreSourceSchema:
     * {"backupId", "volume": {"path"}} or {"backupId", "s3": {...}}). Used only by a node that
     * bootstraps the cluster (--peers, or pod 0 of a new StatefulSet); ignored on restarts and joins.
     */
    restoreFrom: z.string().min(2).optional(),
    /**
     * This node's locality labels, `region=<r>,zone=<z>`; placement spreads replicas across zones.
     * Absent: the topology annotations of the pod (PHANTOMDB_TOPOLOGY_FILE), else "default".
     */
    locality: z
      .string()
      .regex(/^(region|zone)=[A-Za-z0-9._-]{1,63}(,(region|zone)=[A-Za-z0-9._-]{1,63})?$/, 'must be region=<name>,zone=<name>')
      .optional(),
    /** Replica moves the placement driver runs at once (on the meta range's leader). */
    rebalanceConcurrency: z.coerce.number().int().min(1).max(64).default(4),
    /** Bytes per second the placement driver may start copying to new replicas (snapshots), averaged. */
    snapshotRateBytes: z.coerce.number().int().min(64 * 1024).max(10 * 1024 * 1024 * 1024).default(32 * 1024 * 1024),
    /**
     * Load-aware snapshot pacing (load-pacer.ts): while this node's event-loop delay p99 is above
     * this many ms, its outgoing snapshot streams slow down (to --snapshot-pace-floor of
     * --snapshot-rate-bytes at the least). 0: always the full rate.
     */
    snapshotPaceDelayMs: z.coerce.number().int().min(0).max(10_000).default(20),
    /** The lowest share of --snapshot-rate-bytes load-aware pacing slows snapshot streams to. */
    snapshotPaceFloor: z.coerce.number().gt(0).max(1).default(0.6),
    /**
     * Bytes per second this node's backup exports may write (over all of them: each range's
     * leader writes its own files, so this paces what a backup costs this node). 0: no limit.
     */
    backupRateBytes: z.coerce.number().int().min(0).max(10 * 1024 * 1024 * 1024).default(0),
    /** Range pieces this node exports and writes at once for backups (a coordinator asks each node for this many). */
    backupConcurrency: z.coerce.number().int().min(1).max(64).default(2),
    /**
     * Nice value of the thread that runs this node's backup exports (walk, encode, SHA-256, write,
     * fsync, read back): 19 lets client requests have the CPU first; 0 competes with them equally.
     */
    backupExportNice: z.coerce.number().int().min(0).max(19).default(10),
    /** A node dead (no liveness heartbeat) for this long has its replicas replaced elsewhere. */
    deadNodeReplaceMs: z.coerce.number().int().min(1000).max(7 * 24 * 3600 * 1000).default(60_000),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.peers !== undefined && config.join !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['join'], message: 'give either peers (a new cluster) or join (an existing one), not both' });
    }
    if (config.peers !== undefined && !config.peers.some((peer) => peer.id === config.nodeId)) {
      ctx.addIssue({ code: 'custom', path: ['peers'], message: `must include this node (id ${config.nodeId})` });
    }
    if (config.heartbeatTimeoutTicks >= config.electionTimeoutTicks) {
      ctx.addIssue({ code: 'custom', path: ['heartbeatTimeoutTicks'], message: 'must be below electionTimeoutTicks' });
    }
  });

export type NodeConfig = z.output<typeof nodeConfigSchema>;

/** Environment variables and the config fields they set. */
export const envVariables: Readonly<Record<string, keyof z.input<typeof nodeConfigSchema>>> = {
  PHANTOMDB_NODE_ID: 'nodeId',
  PHANTOMDB_CLUSTER_ID: 'clusterId',
  PHANTOMDB_GRPC_LISTEN: 'grpcListen',
  PHANTOMDB_HTTP_LISTEN: 'httpListen',
  PHANTOMDB_KV_LISTEN: 'kvListen',
  PHANTOMDB_ADVERTISE_HOST: 'advertiseHost',
  PHANTOMDB_DATA_DIR: 'dataDir',
  PHANTOMDB_PEERS: 'peers',
  PHANTOMDB_JOIN: 'join',
  PHANTOMDB_TICK_MS: 'tickMs',
  PHANTOMDB_ELECTION_TIMEOUT_TICKS: 'electionTimeoutTicks',
  PHANTOMDB_READ_MODE: 'readMode',
  PHANTOMDB_REPLICATION_FACTOR: 'replicationFactor',
  PHANTOMDB_RANGE_MAX_BYTES: 'rangeMaxBytes',
  PHANTOMDB_METRICS: 'metrics',
  PHANTOMDB_GC_TTL_MS: 'gcTtlMs',
  PHANTOMDB_RESTORE_FROM: 'restoreFrom',
  PHANTOMDB_LOCALITY: 'locality',
  PHANTOMDB_SNAPSHOT_PACE_DELAY_MS: 'snapshotPaceDelayMs',
  PHANTOMDB_SNAPSHOT_PACE_FLOOR: 'snapshotPaceFloor',
};

/** Command-line flags and the config fields they set (all take a value). */
export const flagFields: Readonly<Record<string, keyof z.input<typeof nodeConfigSchema>>> = {
  'node-id': 'nodeId',
  'cluster-id': 'clusterId',
  'grpc-listen': 'grpcListen',
  'http-listen': 'httpListen',
  'kv-listen': 'kvListen',
  'advertise-host': 'advertiseHost',
  'data-dir': 'dataDir',
  peers: 'peers',
  join: 'join',
  'tick-ms': 'tickMs',
  'election-timeout-ticks': 'electionTimeoutTicks',
  'read-mode': 'readMode',
  'replication-factor': 'replicationFactor',
  'compaction-entries': 'compactionEntries',
  'range-max-bytes': 'rangeMaxBytes',
  'value-bytes-max': 'valueBytesMax',
  metrics: 'metrics',
  'max-clock-offset-ms': 'maxClockOffsetMs',
  'gc-ttl-ms': 'gcTtlMs',
  'restore-from': 'restoreFrom',
  locality: 'locality',
  'rebalance-concurrency': 'rebalanceConcurrency',
  'snapshot-rate-bytes': 'snapshotRateBytes',
  'snapshot-pace-delay-ms': 'snapshotPaceDelayMs',
  'snapshot-pace-floor': 'snapshotPaceFloor',
  'dead-node-replace-ms': 'deadNodeReplaceMs',
  'backup-rate-bytes': 'backupRateBytes',
  'backup-concurrency': 'backupConcurrency',
  'backup-export-nice': 'backupExportNice',
};

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  let parsed: unknown;
  try {
    parsed = path.extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid ${path.extname(file) === '.json' ? 'JSON' : 'YAML'}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`config file ${file} must hold a mapping of fields`);
  return parsed as Record<string, unknown>;
}

/**
 * Merges the sources (file < env < flags) and validates. `flags` maps flag names (without
 * dashes) to values; `configFile` is --config or PHANTOMDB_CONFIG.
 */
export function loadNodeConfig(flags: Readonly<Record<string, string | undefined>>, env: NodeJS.ProcessEnv): NodeConfig {
  const merged: Record<string, unknown> = {};
  const origin: Record<string, string> = {};
  const configFile = flags.config ?? env.PHANTOMDB_CONFIG;
  if (configFile !== undefined) {
    for (const [key, value] of Object.entries(readConfigFile(configFile))) {
      merged[key] = value;
      origin[key] = `config file ${configFile}`;
    }
  }
  for (const [variable, field] of Object.entries(envVariables)) {
    const value = env[variable];
    if (value === undefined || value === '') continue;
    merged[field] = value;
    origin[field] = `environment variable ${variable}`;
  }
  for (const [flag, field] of Object.entries(flagFields)) {
    const value = flags[flag];
    if (value === undefined) continue;
    merged[field] = value;
    origin[field] = `flag --${flag}`;
  }
  const result = nodeConfigSchema.safeParse(merged);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const field = String(issue.path[0] ?? '(config)');
    const where = origin[field] === undefined ? '' : ` (from ${origin[field]})`;
    const fieldPath = issue.path.length === 0 ? '(config)' : issue.path.join('.');
    return `  ${fieldPath}${where}: ${issue.message}`;
  });
  throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`);
}
