/**
 * The PhantomScheduledBackup controller: on each due time of the cron schedule it creates one
 * PhantomBackup (named after the scheduled minute, so a restart that repeats the step finds it
 * instead of creating another), follows it to the end, and applies retention, deleting expired
 * backups from the destination and then their PhantomBackup objects.
 *
 * The decisions are the pure functions of cron.ts and retention.ts; this file does the I/O.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import {
  apiGroup,
  apiVersion,
  apiVersionName,
  backupKind,
  scheduledBackupKind,
  scheduledBackupSpecSchema,
  type PhantomScheduledBackupSpec,
  type PhantomScheduledBackupStatus,
} from '../api/index.ts';
import type { Clock } from '../kube/clock.ts';
import { describeApiError, isAlreadyExists, isNotFound } from '../kube/errors.ts';
import type { EventRecorder, EventType } from '../kube/events.ts';
import { StatusConflictError, writeStatusIfChanged, type ObjectWithStatus } from '../kube/status.ts';
import type { OperatorMetrics } from '../metrics/metrics.ts';
import { type BackupDestinations, type DataNodeBackupDeleter, KubeBackupDestinations, VolumeNotInOperatorError } from './backup-runner.ts';
import { setCondition } from './conditions.ts';
import { type CronSchedule, decideSchedule, nextCronTime, parseCron, parseRetentionDuration } from './cron.ts';
import { backupPlural, customResourceInformers, type BackupObject } from './phantombackup.ts';
import { type RetainedBackup, selectExpiredBackups } from './retention.ts';
import { Controller, InformerController, type ReconcileOutcome } from './runtime.ts';

export const scheduledBackupPlural = 'phantomscheduledbackups';
/** Label on every PhantomBackup a schedule created: the schedule's name. */
export const scheduledBackupLabel = 'phantomdb.io/scheduled-backup';

interface ScheduleObject extends ObjectWithStatus {
  readonly metadata: { name: string; namespace?: string; uid?: string; generation?: number; resourceVersion?: string; creationTimestamp?: string };
  readonly spec: unknown;
  readonly status?: PhantomScheduledBackupStatus;
}

export interface ScheduledBackupDeps {
  readonly custom: CustomObjectsApi;
  readonly events: EventRecorder;
  readonly destinations: BackupDestinations;
  readonly clock: Clock;
  /** While a backup runs, look again this often. */
  readonly activePollMs: number;
  /** Longest wait before looking again (the clock may have been changed). */
  readonly resyncMs: number;
  /** The schedule's interval per cluster (the PhantomDBBackupOverdue alert compares against it). */
  readonly metrics?: OperatorMetrics;
  /** Deletes expired backups on a volume the operator does not mount (absent: they are kept). */
  readonly dataNodes?: DataNodeBackupDeleter;
}

interface ScheduleContext {
  readonly deps: ScheduledBackupDeps;
  readonly namespace: string;
  readonly name: string;
  readonly object: ScheduleObject;
  readonly spec: PhantomScheduledBackupSpec;
  status: PhantomScheduledBackupStatus;
  readonly nowMs: number;
  event(type: EventType, reason: string, message: string): Promise<void>;
}

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `nightly` + 2026-11-26T03:00Z → `nightly-202611260300`. */
export function scheduledBackupName(scheduleName: string, scheduledMs: number): string {
  const stamp = new Date(scheduledMs).toISOString().slice(0, 16).replace(/[-T:]/g, '');
  return `${scheduleName}-${stamp}`;
}

async function backupsOfSchedule(ctx: ScheduleContext): Promise<BackupObject[]> {
  const list = (await ctx.deps.custom.listNamespacedCustomObject({ group: apiGroup, version: apiVersionName, namespace: ctx.namespace, plural: backupPlural })) as { items: BackupObject[] };
  return list.items.filter((item) => item.metadata.labels?.[scheduledBackupLabel] === ctx.name);
}

/** Settles the backup the schedule started last, if it finished. Returns whether one still runs. */
async function followActive(ctx: ScheduleContext, backups: readonly BackupObject[]): Promise<boolean> {
  const activeName = ctx.status.activeBackup;
  if (activeName === undefined) return false;
  const active = backups.find((item) => item.metadata.name === activeName);
  const phase = active?.status?.phase;
  if (active !== undefined && phase !== 'Completed' && phase !== 'Failed') return true;
  const status = { ...ctx.status };
  delete status.activeBackup;
  if (phase === 'Completed' && active !== undefined) {
    const type = (active.spec as { type?: string }).type;
    status.lastSuccessfulBackup = activeName;
    if (active.status?.completedAt !== undefined) status.lastSuccessfulTime = active.status.completedAt;
    status.backupsInChain = type === 'Incremental' ? (ctx.status.backupsInChain ?? 0) + 1 : 1;
    await ctx.event('Normal', 'ScheduledBackupCompleted', `backup ${activeName} completed`);
  } else {
    await ctx.event('Warning', 'ScheduledBackupFailed', active === undefined ? `backup ${activeName} disappeared before it finished` : `backup ${activeName} failed: ${active.status?.message ?? 'no message'}`);
  }
  ctx.status = status;
  return false;
}

/** Deletes what retention expires: destination objects first, then the PhantomBackup. */
async function applyRetention(ctx: ScheduleContext, backups: readonly BackupObject[]): Promise<void> {
  const retention = ctx.spec.retention;
  if (retention === undefined) return;
  const retained: RetainedBackup[] = backups.map((item) => {
    const phase = item.status?.phase;
    const timeText = item.status?.completedAt ?? item.metadata.creationTimestamp;
    return {
      name: item.metadata.name,
      phase: phase === 'Completed' ? 'Completed' : phase === 'Failed' ? 'Failed' : 'Other',
      timeMs: timeText === undefined ? ctx.nowMs : Date.parse(timeText),
      backupId: item.status?.backupId,
      parentBackupId: item.status?.parentBackupId,
    };
  });
  const expired = selectExpiredBackups(retained, { keepLast: retention.keepLast, maxAgeMs: retention.maxAge === undefined ? undefined : parseRetentionDuration(retention.maxAge) }, ctx.nowMs);
  if (expired.length === 0) return;
  let opened;
  try {
    opened = await openForDeletion(ctx);
  } catch (error) {
    // Nothing is deleted (neither files nor objects), so every backup that still has its
    // PhantomBackup still has its files.
    await setRetentionFailed(ctx, `cannot open the destination to delete expired backups ${expired.join(', ')} (kept): ${error instanceof Error ? error.message : describeApiError(error)}`);
    return;
  }
  try {
    for (const name of expired) {
      const backupId = backups.find((item) => item.metadata.name === name)?.status?.backupId;
      if (backupId !== undefined) await opened.deleteBackup(backupId);
      try {
        await ctx.deps.custom.deleteNamespacedCustomObject({ group: apiGroup, version: apiVersionName, namespace: ctx.namespace, plural: backupPlural, name });
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
      await ctx.event('Normal', 'BackupExpired', `deleted backup ${name}${backupId === undefined ? '' : ` (${backupId}) from ${opened.description}`} by the retention policy`);
    }
  } catch (error) {
    await setRetentionFailed(ctx, `deleting expired backups failed: ${error instanceof Error ? error.message : describeApiError(error)}`);
    return;
  } finally {
    opened.close();
  }
  ctx.status = { ...ctx.status, conditions: setCondition(ctx.status.conditions, { type: 'RetentionFailed', status: 'False', reason: 'Applied', message: `${expired.length} expired backups deleted` }, new Date(ctx.nowMs), ctx.object.metadata.generation) };
}

/** Where retention deletes a backup's objects: through the operator's own access, or through the data nodes. */
interface OpenedForDeletion {
  readonly description: string;
  deleteBackup(backupId: string): Promise<void>;
  close(): void;
}

/**
 * Opens the schedule's destination for deleting backups: directly (S3, or a volume the operator
 * mounts), or, for a volume only the data pods mount, through the data nodes' DeleteBackup.
 */
async function openForDeletion(ctx: ScheduleContext): Promise<OpenedForDeletion> {
  try {
    const opened = await ctx.deps.destinations.open(ctx.namespace, ctx.spec.destination);
    return {
      description: opened.store.description,
      deleteBackup: async (backupId) => opened.store.delete(await opened.store.list(`${backupId}/`)),
      close: () => opened.close(),
    };
  } catch (error) {
    const dataNodes = ctx.deps.dataNodes;
    if (!(error instanceof VolumeNotInOperatorError) || dataNodes === undefined) throw error;
    return {
      description: `volume claim ${error.claimName} (through the data nodes)`,
      deleteBackup: async (backupId) => {
        await dataNodes.deleteBackup(ctx.namespace, ctx.spec.cluster, ctx.spec.destination, backupId);
      },
      close: () => undefined,
    };
  }
}

async function setRetentionFailed(ctx: ScheduleContext, message: string): Promise<void> {
  ctx.status = { ...ctx.status, conditions: setCondition(ctx.status.conditions, { type: 'RetentionFailed', status: 'True', reason: 'DeleteFailed', message }, new Date(ctx.nowMs), ctx.object.metadata.generation) };
  await ctx.event('Warning', 'RetentionFailed', message);
}

/** Creates the backup for `scheduledMs` (or finds it, when this step is repeated after a restart). */
async function startScheduledBackup(ctx: ScheduleContext, scheduledMs: number, missed: number): Promise<void> {
  const name = scheduledBackupName(ctx.name, scheduledMs);
  const chainLength = ctx.status.backupsInChain ?? 0;
  const incremental = ctx.spec.type === 'Incremental' && ctx.status.lastSuccessfulBackup !== undefined && chainLength > 0 && chainLength < ctx.spec.fullEvery;
  const body = {
    apiVersion,
    kind: backupKind,
    metadata: {
      name,
      namespace: ctx.namespace,
      labels: { [scheduledBackupLabel]: ctx.name, 'app.kubernetes.io/instance': ctx.spec.cluster },
      ownerReferences: [{ apiVersion, kind: scheduledBackupKind, name: ctx.name, uid: ctx.object.metadata.uid ?? '', controller: true }],
    },
    spec: {
      cluster: ctx.spec.cluster,
      destination: ctx.spec.destination,
      type: incremental ? 'Incremental' : 'Full',
      ...(incremental && ctx.status.lastSuccessfulBackup !== undefined ? { parentBackup: ctx.status.lastSuccessfulBackup } : {}),
    },
  };
  try {
    await ctx.deps.custom.createNamespacedCustomObject({ group: apiGroup, version: apiVersionName, namespace: ctx.namespace, plural: backupPlural, body });
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
  }
  ctx.status = { ...ctx.status, lastScheduleTime: isoSeconds(scheduledMs), activeBackup: name };
  await ctx.event('Normal', 'BackupScheduled', `created ${body.spec.type} backup ${name}${missed > 0 ? ` (catching up: ${missed} earlier due times were missed while the operator was down and are skipped)` : ''}`);
}

/** The gap between the schedule's next two times after `nowMs`, in seconds (0 when it never fires). */
export function scheduleIntervalSeconds(schedule: CronSchedule, nowMs: number): number {
  const first = nextCronTime(schedule, nowMs);
  const second = first === undefined ? undefined : nextCronTime(schedule, first);
  return first === undefined || second === undefined ? 0 : (second - first) / 1000;
}

function splitKey(key: string): { namespace: string; name: string } {
  const at = key.indexOf('/');
  return { namespace: key.slice(0, at), name: key.slice(at + 1) };
}

/** One reconcile of a PhantomScheduledBackup. */
export async function reconcileScheduledBackup(deps: ScheduledBackupDeps, key: string): Promise<ReconcileOutcome> {
  const { namespace, name } = splitKey(key);
  const ref = { group: apiGroup, version: apiVersionName, plural: scheduledBackupPlural, namespace, name };
  let object: ScheduleObject;
  try {
    object = (await deps.custom.getNamespacedCustomObject(ref)) as ScheduleObject;
  } catch (error) {
    if (isNotFound(error)) return {};
    throw error;
  }
  const nowMs = deps.clock.nowMs();
  const parsed = scheduledBackupSpecSchema.safeParse(object.spec);
  const status: PhantomScheduledBackupStatus = structuredClone(object.status ?? {});
  const event = (type: EventType, reason: string, message: string): Promise<void> =>
    deps.events.record({ apiVersion, kind: scheduledBackupKind, namespace, name, uid: object.metadata.uid }, type, reason, message);
  let schedule;
  try {
    if (!parsed.success) throw new Error(parsed.error.issues.map((issue) => `spec.${issue.path.join('.')}: ${issue.message}`).join('; '));
    schedule = parseCron(parsed.data.schedule);
  } catch (error) {
    const message = `invalid spec: ${error instanceof Error ? error.message : String(error)}`;
    status.conditions = setCondition(status.conditions, { type: 'Invalid', status: 'True', reason: 'InvalidSpec', message }, new Date(nowMs), object.metadata.generation);
    await writeStatusIfChanged(deps.custom, ref, object, status).catch(() => undefined);
    await event('Warning', 'InvalidSpec', message);
    return {};
  }
  const ctx: ScheduleContext = { deps, namespace, name, object, spec: parsed.data, status, nowMs, event };
  let outcome: ReconcileOutcome;
  const backups = await backupsOfSchedule(ctx);
  const running = await followActive(ctx, backups);
  await applyRetention(ctx, backups);
  if (running) {
    outcome = { requeueAfterMs: deps.activePollMs };
  } else {
    const lastScheduleMs = Date.parse(ctx.status.lastScheduleTime ?? object.metadata.creationTimestamp ?? isoSeconds(nowMs));
    const decision = decideSchedule({ schedule, lastScheduleMs, nowMs, suspend: ctx.spec.suspend });
    deps.metrics?.setBackupSchedule(namespace, ctx.spec.cluster, ctx.spec.suspend ? 0 : scheduleIntervalSeconds(schedule, nowMs));
    switch (decision.kind) {
      case 'suspended':
      case 'never':
        delete ctx.status.nextScheduleTime;
        outcome = { resyncAfterMs: deps.resyncMs };
        break;
      case 'wait':
        ctx.status.nextScheduleTime = isoSeconds(decision.nextMs);
        outcome = { resyncAfterMs: Math.min(deps.resyncMs, Math.max(1_000, decision.nextMs - nowMs)) };
        break;
      case 'run':
        await startScheduledBackup(ctx, decision.scheduledMs, decision.missed);
        if (decision.nextMs === undefined) delete ctx.status.nextScheduleTime;
        else ctx.status.nextScheduleTime = isoSeconds(decision.nextMs);
        outcome = { requeueAfterMs: deps.activePollMs };
        break;
    }
  }
  ctx.status.observedGeneration = object.metadata.generation ?? 0;
  try {
    await writeStatusIfChanged(deps.custom, ref, object, ctx.status);
  } catch (error) {
    if (error instanceof StatusConflictError) return { requeueAfterMs: 0 };
    throw error;
  }
  return outcome;
}

export interface PhantomScheduledBackupControllerOptions {
  readonly kubeConfig: KubeConfig;
  readonly events: EventRecorder;
  readonly clock: Clock;
  readonly destinations?: BackupDestinations;
  /** Deletes expired backups on volumes the operator does not mount (the data node runner). */
  readonly dataNodes?: DataNodeBackupDeleter;
  readonly namespaces?: readonly string[];
  readonly metrics?: OperatorMetrics;
  readonly activePollMs?: number;
  readonly resyncMs?: number;
  readonly log?: (message: string) => void;
}

/** Informers on schedules and on their backups (a backup's change enqueues its schedule). */
export class PhantomScheduledBackupController extends InformerController {
  protected readonly controller: Controller;

  constructor(options: PhantomScheduledBackupControllerOptions) {
    super();
    const custom = options.kubeConfig.makeApiClient(CustomObjectsApi);
    const log = options.log ?? ((message: string) => process.stderr.write(`${message}\n`));
    const deps: ScheduledBackupDeps = {
      custom,
      events: options.events,
      destinations: options.destinations ?? new KubeBackupDestinations(options.kubeConfig.makeApiClient(CoreV1Api)),
      clock: options.clock,
      activePollMs: options.activePollMs ?? 5_000,
      resyncMs: options.resyncMs ?? 60_000,
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
      ...(options.dataNodes === undefined ? {} : { dataNodes: options.dataNodes }),
    };
    this.controller = new Controller({ name: 'phantomscheduledbackup', reconcile: (key) => reconcileScheduledBackup(deps, key), clock: options.clock, workers: 1, log, ...(options.metrics === undefined ? {} : { metrics: options.metrics }) });
    this.informers.push(
      ...customResourceInformers(options, custom, scheduledBackupPlural, (object) => this.enqueue(object.metadata?.namespace, object.metadata?.name), log),
      ...customResourceInformers(options, custom, backupPlural, (object) => this.enqueue(object.metadata?.namespace, object.metadata?.labels?.[scheduledBackupLabel]), log),
    );
  }

  private enqueue(namespace: string | undefined, name: string | undefined): void {
    if (namespace !== undefined && name !== undefined) this.controller.enqueue(`${namespace}/${name}`);
  }
}
