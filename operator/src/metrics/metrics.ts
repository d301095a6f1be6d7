/**
 * The operator's Prometheus metrics (prom-client), in a registry of its own. Names and labels are
 * what the Helm chart's PrometheusRule and the dashboards (grafana/) query:
 * `phantomdb_operator_reconcile_total{controller,result}`, `phantomdb_operator_clusters{namespace,phase}`,
 * `phantomdb_operator_backup_last_success_timestamp_seconds{namespace,cluster}`, ...
 *
 * Every cluster the operator knows has its backup series (zero until a backup is recorded), and
 * every operation kind has its duration series, so that dashboards and alerts see a series
 * before the first event, and a cluster's series go away with it.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type ReconcileResult = 'success' | 'requeue' | 'error';
export type OperationResult = 'succeeded' | 'failed';
/** Journaled day-2 operations whose durations are recorded. */
export const operationKinds = ['ScaleOut', 'ScaleIn', 'Upgrade', 'Restart', 'Backup', 'Restore'] as const;
const operationResults: readonly OperationResult[] = ['succeeded', 'failed'];

export class OperatorMetrics {
  readonly registry = new Registry();
  private readonly reconciles: Counter<'controller' | 'result'>;
  private readonly reconcileSeconds: Histogram<'controller'>;
  private readonly operationSeconds: Histogram<'kind' | 'result'>;
  private readonly clusters: Gauge<'namespace' | 'phase'>;
  private readonly queueDepth: Gauge<'controller'>;
  private readonly leader: Gauge;
  private readonly informerRestarts: Counter<'resource'>;
  private readonly phases = new Map<string, { readonly namespace: string; readonly phase: string }>();
  private readonly backups: Counter<'namespace' | 'cluster' | 'result'>;
  private readonly backupLastSuccess: Gauge<'namespace' | 'cluster'>;
  private readonly backupInterval: Gauge<'namespace' | 'cluster'>;

  constructor(options: { readonly defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.reconciles = new Counter({ name: 'phantomdb_operator_reconcile_total', help: 'Reconciles by controller and result (success, requeue, error).', labelNames: ['controller', 'result'], registers });
    this.reconcileSeconds = new Histogram({
      name: 'phantomdb_operator_reconcile_duration_seconds',
      help: 'Time one reconcile took.',
      labelNames: ['controller'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.operationSeconds = new Histogram({
      name: 'phantomdb_operator_operation_duration_seconds',
      help: 'Time a journaled cluster operation (scale-in, upgrade, ...) took from start to end.',
      labelNames: ['kind', 'result'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200],
      registers,
    });
    this.clusters = new Gauge({ name: 'phantomdb_operator_clusters', help: 'PhantomClusters by namespace and phase.', labelNames: ['namespace', 'phase'], registers });
    this.queueDepth = new Gauge({ name: 'phantomdb_operator_workqueue_depth', help: 'Keys waiting in a controller\'s work queue (ready and delayed).', labelNames: ['controller'], registers });
    this.leader = new Gauge({ name: 'phantomdb_operator_leader', help: '1 while this replica holds the leader election lease.', registers });
    this.informerRestarts = new Counter({ name: 'phantomdb_operator_informer_restarts_total', help: 'Informer restarts after errors.', labelNames: ['resource'], registers });
    for (const kind of operationKinds) for (const result of operationResults) this.operationSeconds.zero({ kind, result });
    this.backups = new Counter({ name: 'phantomdb_operator_backups_total', help: 'Backups of each cluster that finished, by result (succeeded, failed).', labelNames: ['namespace', 'cluster', 'result'], registers });
    this.backupLastSuccess = new Gauge({
      name: 'phantomdb_operator_backup_last_success_timestamp_seconds',
      help: 'When the cluster\'s last successful backup finished (Unix seconds); 0 when it has none.',
      labelNames: ['namespace', 'cluster'],
      registers,
    });
    this.backupInterval = new Gauge({
      name: 'phantomdb_operator_backup_schedule_interval_seconds',
      help: 'Interval of the cluster\'s scheduled backups (PhantomScheduledBackup); 0 when none is scheduled. Backup-overdue alerts compare against it.',
      labelNames: ['namespace', 'cluster'],
      registers,
    });
    if (options.defaultMetrics === true) collectDefaultMetrics({ register: this.registry, prefix: 'phantomdb_operator_' });
  }

  observeReconcile(controller: string, result: ReconcileResult, seconds: number): void {
    this.reconciles.inc({ controller, result });
    this.reconcileSeconds.observe({ controller }, seconds);
  }

  observeOperation(kind: string, result: OperationResult, seconds: number): void {
    this.operationSeconds.observe({ kind, result }, seconds);
  }

  /** Records a cluster's phase (undefined when the cluster is gone). `key` is namespace/name. */
  setClusterPhase(key: string, namespace: string, phase: string | undefined): void {
    const cluster = { namespace, cluster: key.slice(key.indexOf('/') + 1) };
    if (phase === undefined) {
      if (this.phases.delete(key)) this.forgetBackups(cluster);
    } else {
      if (!this.phases.has(key)) this.initBackups(cluster);
      this.phases.set(key, { namespace, phase });
    }
    this.clusters.reset();
    const counts = new Map<string, { namespace: string; phase: string; count: number }>();
    for (const entry of this.phases.values()) {
      const id = `${entry.namespace}/${entry.phase}`;
      const counted = counts.get(id) ?? { ...entry, count: 0 };
      counted.count += 1;
      counts.set(id, counted);
    }
    for (const { namespace: ns, phase: p, count } of counts.values()) this.clusters.set({ namespace: ns, phase: p }, count);
  }

  setQueueDepth(controller: string, depth: number): void {
    this.queueDepth.set({ controller }, depth);
  }

  setLeader(leading: boolean): void {
    this.leader.set(leading ? 1 : 0);
  }

  informerRestarted(resource: string): void {
    this.informerRestarts.inc({ resource });
  }

  /** Records a finished backup of a cluster; `finishedAtSeconds` is Unix time. */
  recordBackup(namespace: string, cluster: string, result: OperationResult, finishedAtSeconds: number): void {
    this.backups.inc({ namespace, cluster, result });
    if (result === 'succeeded') this.backupLastSuccess.set({ namespace, cluster }, finishedAtSeconds);
  }

  /** Records the interval of a cluster's scheduled backups (0: none scheduled). */
  setBackupSchedule(namespace: string, cluster: string, intervalSeconds: number): void {
    this.backupInterval.set({ namespace, cluster }, intervalSeconds);
  }

  private initBackups(labels: { namespace: string; cluster: string }): void {
    for (const result of operationResults) this.backups.inc({ ...labels, result }, 0);
    this.backupLastSuccess.set(labels, 0);
    this.backupInterval.set(labels, 0);
  }

  private forgetBackups(labels: { namespace: string; cluster: string }): void {
    for (const result of operationResults) this.backups.remove({ ...labels, result });
    this.backupLastSuccess.remove(labels);
    this.backupInterval.remove(labels);
  }
}
