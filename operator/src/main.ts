/**
 * `phantomdb-operator`: the PhantomDB Kubernetes operator. It serves metrics and health at once,
 * campaigns for the leader election Lease, and runs the controllers only while it leads; it
 * stops them the moment it loses the Lease and stops cleanly on SIGTERM/SIGINT (releasing the
 * Lease so a standby takes over without waiting for it to expire).
 *
 * Configuration: flags, else the environment variables the Helm chart sets (see --help).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { z } from 'zod';
import { GrpcAdminConnector, podAdminAddress } from './admin-client/index.ts';
import { DataNodeBackupRunner, readS3Credentials } from './controllers/backup-runner.ts';
import { PhantomBackupController } from './controllers/phantombackup.ts';
import { PhantomClusterController } from './controllers/phantomcluster.ts';
import { PhantomScheduledBackupController } from './controllers/phantomscheduledbackup.ts';
import { systemClock } from './kube/clock.ts';
import { EventRecorder } from './kube/events.ts';
import { LeaderElector } from './kube/leader-election.ts';
import { OperatorMetrics } from './metrics/metrics.ts';
import { serveHealth, serveMetrics, type HttpEndpoint } from './metrics/server.ts';

const usage = `phantomdb-operator: reconciles PhantomCluster resources into replicated PhantomDB clusters.

Usage: phantomdb-operator [flags]

Flags (each overrides the environment variable named after it):
  --kubeconfig PATH          kubeconfig file (KUBECONFIG; default: in-cluster service account, else ~/.kube/config)
  --namespaces A,B           namespaces to watch, empty for all (PHANTOMDB_WATCH_NAMESPACES)
  --metrics-port N           Prometheus /metrics port, 0 for any free port (PHANTOMDB_METRICS_PORT, default 9090)
  --health-port N            /healthz and /readyz port (PHANTOMDB_HEALTH_PORT, default 8081)
  --leader-election BOOL     campaign for a Lease before reconciling (PHANTOMDB_LEADER_ELECTION, default true)
  --lease-name NAME          (PHANTOMDB_LEADER_ELECTION_LEASE_NAME, default phantomdb-operator-leader)
  --lease-namespace NS       (PHANTOMDB_LEADER_ELECTION_LEASE_NAMESPACE, else POD_NAMESPACE, else default)
  --data-node-image-repository REPO   image of the data nodes, tagged with spec.version (PHANTOMDB_DATA_NODE_IMAGE_REPOSITORY)
  --help                     print this and exit

Also read: PHANTOMDB_LEADER_ELECTION_LEASE_DURATION_SECONDS (15), _RENEW_DEADLINE_SECONDS (10),
_RETRY_PERIOD_SECONDS (2), PHANTOMDB_LOG_LEVEL (info), POD_NAME (the replica's identity).
`;

const booleanText = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((value) => value === 'true' || value === '1' || value === 'yes');
const port = z.coerce.number().int().min(0).max(65535);
const seconds = z.coerce.number().positive().max(3600);

const configSchema = z
  .object({
    kubeconfig: z.string().min(1).optional(),
    namespaces: z.string().default('').transform((text) => text.split(',').map((part) => part.trim()).filter((part) => part !== '')),
    metricsPort: port.default(9090),
    healthPort: port.default(8081),
    leaderElection: booleanText.default(true),
    leaseName: z.string().min(1).default('phantomdb-operator-leader'),
    leaseNamespace: z.string().min(1).default('default'),
    leaseDurationSeconds: seconds.default(15),
    renewDeadlineSeconds: seconds.default(10),
    retryPeriodSeconds: seconds.default(2),
    dataNodeImageRepository: z.string().min(1).optional(),
    logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    identity: z.string().min(1),
  })
  .refine((config) => config.retryPeriodSeconds < config.renewDeadlineSeconds && config.renewDeadlineSeconds < config.leaseDurationSeconds, {
    message: 'leader election needs retry period < renew deadline < lease duration',
    path: ['renewDeadlineSeconds'],
  });
export type OperatorConfig = z.output<typeof configSchema>;

/** The configuration from flags and the environment; throws with every problem named. */
export function loadOperatorConfig(argv: readonly string[], env: NodeJS.ProcessEnv): OperatorConfig | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      kubeconfig: { type: 'string' },
      namespaces: { type: 'string' },
      'metrics-port': { type: 'string' },
      'health-port': { type: 'string' },
      'leader-election': { type: 'string' },
      'lease-name': { type: 'string' },
      'lease-namespace': { type: 'string' },
      'data-node-image-repository': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help === true) return 'help';
  const pick = (flag: string | undefined, ...variables: (string | undefined)[]): string | undefined => flag ?? variables.find((value) => value !== undefined && value !== '');
  const raw: Record<string, string | undefined> = {
    kubeconfig: pick(values.kubeconfig, env.KUBECONFIG),
    namespaces: pick(values.namespaces, env.PHANTOMDB_WATCH_NAMESPACES),
    metricsPort: pick(values['metrics-port'], env.PHANTOMDB_METRICS_PORT),
    healthPort: pick(values['health-port'], env.PHANTOMDB_HEALTH_PORT),
    leaderElection: pick(values['leader-election'], env.PHANTOMDB_LEADER_ELECTION),
    leaseName: pick(values['lease-name'], env.PHANTOMDB_LEADER_ELECTION_LEASE_NAME),
    leaseNamespace: pick(values['lease-namespace'], env.PHANTOMDB_LEADER_ELECTION_LEASE_NAMESPACE, env.POD_NAMESPACE),
    leaseDurationSeconds: pick(undefined, env.PHANTOMDB_LEADER_ELECTION_LEASE_DURATION_SECONDS),
    renewDeadlineSeconds: pick(undefined, env.PHANTOMDB_LEADER_ELECTION_RENEW_DEADLINE_SECONDS),
    retryPeriodSeconds: pick(undefined, env.PHANTOMDB_LEADER_ELECTION_RETRY_PERIOD_SECONDS),
    dataNodeImageRepository: pick(values['data-node-image-repository'], env.PHANTOMDB_DATA_NODE_IMAGE_REPOSITORY),
    logLevel: pick(undefined, env.PHANTOMDB_LOG_LEVEL),
    // Unique per process: a restarted pod (same name) must not inherit its predecessor's lease.
    identity: `${pick(undefined, env.POD_NAME) ?? hostname()}_${randomBytes(4).toString('hex')}`,
  };
  const defined = Object.fromEntries(Object.entries(raw).filter(([, value]) => value !== undefined));
  const result = configSchema.safeParse(defined);
  if (!result.success) throw new Error(`invalid configuration:\n${result.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`).join('\n')}`);
  return result.data;
}

function logger(level: OperatorConfig['logLevel']): { info: (message: string) => void; debug: (message: string) => void } {
  const write = (severity: string, message: string): void => {
    process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: severity, msg: message })}\n`);
  };
  return { info: (message) => write('info', message), debug: (message) => (level === 'debug' ? write('debug', message) : undefined) };
}

export interface RunningOperator {
  readonly metricsPort: number;
  readonly healthPort: number;
  /** Stops reconciling, releases the Lease and closes the servers. */
  stop(): Promise<void>;
}

/** The backup runner over the data nodes' admin API: pods found by their selector labels. */
function dataNodeBackupRunner(core: CoreV1Api, custom: CustomObjectsApi, admin: GrpcAdminConnector): DataNodeBackupRunner {
  return new DataNodeBackupRunner({
    admin,
    endpointsOf: async (namespace, cluster) => {
      const pods = await core.listNamespacedPod({ namespace, labelSelector: `app.kubernetes.io/name=phantomdb,app.kubernetes.io/instance=${cluster}` });
      return pods.items.map(podAdminAddress).filter((address): address is string => address !== undefined);
    },
    s3CredentialsOf: (namespace, s3) => readS3Credentials(core, namespace, s3),
    volumeMountsOf: async (namespace, cluster) => {
      const object = (await custom.getNamespacedCustomObject({ group: 'phantomdb.io', version: 'v1alpha1', namespace, plural: 'phantomclusters', name: cluster })) as { spec?: unknown };
      const pods = await core.listNamespacedPod({ namespace, labelSelector: `app.kubernetes.io/name=phantomdb,app.kubernetes.io/instance=${cluster}` });
      return { clusterSpec: object.spec, pods: pods.items };
    },
  });
}

/** Runs the operator until `stop()`. */
export async function runOperator(config: OperatorConfig): Promise<RunningOperator> {
  const log = logger(config.logLevel);
  const kubeConfig = new KubeConfig();
  if (config.kubeconfig !== undefined) kubeConfig.loadFromFile(config.kubeconfig);
  else kubeConfig.loadFromDefault();
  const metrics = new OperatorMetrics({ defaultMetrics: true });
  const admin = new GrpcAdminConnector();
  const events = new EventRecorder(kubeConfig.makeApiClient(CoreV1Api), { component: 'phantomdb-operator', instance: config.identity, log: log.info });
  let controller: PhantomClusterController | undefined;
  let backupControllers: (PhantomBackupController | PhantomScheduledBackupController)[] = [];
  let controllerStopping: Promise<void> = Promise.resolve();
  let standbyReady = !config.leaderElection;

  const startControllers = (): void => {
    const next = new PhantomClusterController({
      kubeConfig,
      admin,
      events,
      clock: systemClock,
      namespaces: config.namespaces,
      metrics,
      log: log.info,
      ...(config.dataNodeImageRepository === undefined ? {} : { dataNodeImageRepository: config.dataNodeImageRepository }),
    });
    controller = next;
    // Backups: the meta range's leader of the cluster takes them through the admin API.
    const backupOptions = { kubeConfig, events, clock: systemClock, namespaces: config.namespaces, metrics, log: log.info };
    const runner = dataNodeBackupRunner(kubeConfig.makeApiClient(CoreV1Api), kubeConfig.makeApiClient(CustomObjectsApi), admin);
    const nextBackups = [new PhantomBackupController({ ...backupOptions, runner }), new PhantomScheduledBackupController({ ...backupOptions, dataNodes: runner })];
    backupControllers = nextBackups;
    void controllerStopping
      .then(() => Promise.all([next.start(), ...nextBackups.map((backups) => backups.start())]))
      .catch((error: unknown) => log.info(`controllers failed to start: ${error instanceof Error ? error.message : String(error)}`));
  };
  const stopControllers = (): void => {
    const current = controller;
    const currentBackups = backupControllers;
    controller = undefined;
    backupControllers = [];
    if (current !== undefined) controllerStopping = controllerStopping.then(() => current.stop());
    if (currentBackups.length > 0) controllerStopping = controllerStopping.then(async () => void (await Promise.all(currentBackups.map((backups) => backups.stop()))));
  };

  const metricsServer: HttpEndpoint = await serveMetrics(metrics.registry, config.metricsPort);
  const healthServer: HttpEndpoint = await serveHealth({ healthy: () => true, ready: () => standbyReady || (controller?.hasSynced ?? false) }, config.healthPort);
  log.info(`metrics on :${metricsServer.port}/metrics, health on :${healthServer.port}/healthz and /readyz`);

  let elector: LeaderElector | undefined;
  if (config.leaderElection) {
    elector = new LeaderElector({
      api: kubeConfig.makeApiClient(CoordinationV1Api),
      namespace: config.leaseNamespace,
      leaseName: config.leaseName,
      identity: config.identity,
      leaseDurationMs: config.leaseDurationSeconds * 1000,
      renewDeadlineMs: config.renewDeadlineSeconds * 1000,
      retryPeriodMs: config.retryPeriodSeconds * 1000,
      onStartedLeading: () => {
        metrics.setLeader(true);
        startControllers();
      },
      onStoppedLeading: () => {
        metrics.setLeader(false);
        stopControllers();
      },
      onNewLeader: (identity) => log.info(`leader is ${identity}`),
      log: log.info,
    });
    // A standby is ready: it serves metrics and waits to take over.
    standbyReady = true;
    elector.start();
  } else {
    metrics.setLeader(true);
    startControllers();
  }

  return {
    metricsPort: metricsServer.port,
    healthPort: healthServer.port,
    stop: async () => {
      stopControllers();
      await controllerStopping;
      await elector?.stop();
      admin.close();
      await metricsServer.close();
      await healthServer.close();
    },
  };
}

async function main(): Promise<void> {
  let config: OperatorConfig | 'help';
  try {
    config = loadOperatorConfig(process.argv.slice(2), process.env);
  } catch (error) {
    process.stderr.write(`phantomdb-operator: ${error instanceof Error ? error.message : String(error)}\n\n${usage}`);
    process.exit(2);
  }
  if (config === 'help') {
    process.stdout.write(usage);
    return;
  }
  const operator = await runOperator(config);
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'info', msg: `${signal}: stopping` })}\n`);
    // A stuck shutdown must not outlive the pod's grace period.
    setTimeout(() => process.exit(1), 20_000).unref();
    operator.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

if (import.meta.url === `file://${process.argv[1] ?? ''}` || process.argv[1]?.endsWith('operator/src/main.ts') === true || process.argv[1]?.endsWith('operator/src/main.js') === true) {
  main().catch((error: unknown) => {
    process.stderr.write(`phantomdb-operator: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
