/**
 * The PhantomBackup controller. A backup moves through journaled phases written to its status,
 * so an operator restart resumes it instead of repeating or forgetting a step:
 *
 *   (new) → Pending: spec checked, cluster found, backupId chosen, parent chosen (incremental)
 *   Pending → Running: startedAt recorded first, then the runner is asked to start
 *   Running: progress polled into status; once uploaded, every object is re-read (Verified)
 *   → Completed only when verified; → Failed with a message naming the cause otherwise.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { BackupError, verifyBackup, systemTimers } from '../../../datanode/src/backup/index.ts';
import { apiGroup, apiVersion, apiVersionName, backupKind, backupSpecSchema, type PhantomBackupSpec, type PhantomBackupStatus } from '../api/index.ts';
import type { Clock } from '../kube/clock.ts';
import { describeApiError, isNotFound } from '../kube/errors.ts';
import type { EventRecorder, EventType } from '../kube/events.ts';
import { RestartingInformer } from '../kube/informer.ts';
import { StatusConflictError, writeStatusIfChanged, type ObjectWithStatus } from '../kube/status.ts';
import type { OperatorMetrics } from '../metrics/metrics.ts';
import { type BackupDestinations, type BackupJob, type BackupRunner, KubeBackupDestinations, VolumeNotInOperatorError } from './backup-runner.ts';
import { backupVolumeRefusal } from './backup-volume.ts';
import { setCondition } from './conditions.ts';
import { Controller, InformerController, type ReconcileOutcome } from './runtime.ts';

export const backupPlural = 'phantombackups';
export const verifiedCondition = 'Verified';

export interface BackupObject extends ObjectWithStatus {
  readonly metadata: { name: string; namespace?: string; uid?: string; generation?: number; resourceVersion?: string; creationTimestamp?: string; labels?: Record<string, string> };
  readonly spec: unknown;
  readonly status?: PhantomBackupStatus;
}

export interface BackupControllerDeps {
  readonly custom: CustomObjectsApi;
  readonly events: EventRecorder;
  readonly runner: BackupRunner;
  readonly destinations: BackupDestinations;
  readonly clock: Clock;
  /** How often a running backup's progress is polled. */
  readonly progressPollMs: number;
  /** Backup results and durations (the PhantomDBBackupFailed/Overdue alerts read them). */
  readonly metrics?: OperatorMetrics;
}

interface BackupContext {
  readonly deps: BackupControllerDeps;
  /** Aborted when the operator stops or loses leadership: a verification in flight stops. */
  readonly signal: AbortSignal;
  readonly namespace: string;
  readonly name: string;
  object: BackupObject;
  readonly spec: PhantomBackupSpec;
  status: PhantomBackupStatus;
  persist(): Promise<void>;
  event(type: EventType, reason: string, message: string): Promise<void>;
  now(): string;
}

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : describeApiError(error);
}

/** A stable, unique ID for the backup's folder at the destination. */
export function backupIdOf(object: BackupObject): string {
  const uid = (object.metadata.uid ?? '').replace(/[^a-z0-9]/g, '').slice(0, 8);
  return uid === '' ? object.metadata.name : `${object.metadata.name}-${uid}`;
}

function jobOf(ctx: BackupContext): BackupJob {
  return {
    namespace: ctx.namespace,
    cluster: ctx.spec.cluster,
    backupName: ctx.name,
    backupId: ctx.status.backupId ?? backupIdOf(ctx.object),
    type: ctx.spec.type,
    ...(ctx.status.parentBackupId === undefined ? {} : { parentBackupId: ctx.status.parentBackupId }),
    destination: ctx.spec.destination,
  };
}

/** Counts a finished backup, and how long it took from startedAt when it started. */
function recordFinished(ctx: BackupContext, result: 'succeeded' | 'failed'): void {
  const metrics = ctx.deps.metrics;
  if (metrics === undefined || typeof ctx.spec.cluster !== 'string') return;
  const nowMs = ctx.deps.clock.nowMs();
  metrics.recordBackup(ctx.namespace, ctx.spec.cluster, result, Math.floor(nowMs / 1000));
  const startedMs = ctx.status.startedAt === undefined ? Number.NaN : Date.parse(ctx.status.startedAt);
  if (Number.isFinite(startedMs)) metrics.observeOperation('Backup', result, Math.max(0, nowMs - startedMs) / 1000);
}

async function fail(ctx: BackupContext, message: string, verified?: 'False'): Promise<ReconcileOutcome> {
  ctx.status = { ...ctx.status, phase: 'Failed', message, completedAt: ctx.now() };
  if (verified !== undefined) ctx.status.conditions = setCondition(ctx.status.conditions, { type: verifiedCondition, status: 'False', reason: 'VerificationFailed', message }, new Date(ctx.deps.clock.nowMs()), ctx.object.metadata.generation);
  await ctx.persist();
  recordFinished(ctx, 'failed');
  await ctx.event('Warning', 'BackupFailed', message);
  return {};
}

/** Completed backups of the same cluster and destination, newest first (candidates for a parent). */
async function completedBackupsOf(ctx: BackupContext): Promise<BackupObject[]> {
  const list = (await ctx.deps.custom.listNamespacedCustomObject({ group: apiGroup, version: apiVersionName, namespace: ctx.namespace, plural: backupPlural })) as { items: BackupObject[] };
  const sameDestination = JSON.stringify(ctx.spec.destination);
  return list.items
    .filter((item) => item.status?.phase === 'Completed' && item.status.backupId !== undefined && item.metadata.name !== ctx.name)
    .filter((item) => {
      const spec = backupSpecSchema.safeParse(item.spec);
      return spec.success && spec.data.cluster === ctx.spec.cluster && JSON.stringify(spec.data.destination) === sameDestination;
    })
    .sort((a, b) => (b.status?.completedAt ?? '').localeCompare(a.status?.completedAt ?? ''));
}

/** Pending: the cluster exists, an ID is chosen, and an incremental has a parent. */
async function prepare(ctx: BackupContext): Promise<ReconcileOutcome | undefined> {
  let cluster: { spec?: unknown };
  try {
    cluster = (await ctx.deps.custom.getNamespacedCustomObject({ group: apiGroup, version: apiVersionName, namespace: ctx.namespace, plural: 'phantomclusters', name: ctx.spec.cluster })) as { spec?: unknown };
  } catch (error) {
    if (isNotFound(error)) return fail(ctx, `PhantomCluster ${ctx.namespace}/${ctx.spec.cluster} does not exist`);
    throw error;
  }
  const volume = ctx.spec.destination.volume;
  const refusal = volume === undefined ? undefined : backupVolumeRefusal(ctx.namespace, ctx.spec.cluster, cluster.spec, volume.claimName);
  if (refusal !== undefined) return fail(ctx, refusal);
  let parentBackupId: string | undefined;
  if (ctx.spec.type === 'Incremental') {
    const candidates = await completedBackupsOf(ctx);
    const parent = ctx.spec.parentBackup === undefined ? candidates[0] : candidates.find((item) => item.metadata.name === ctx.spec.parentBackup);
    if (parent === undefined) {
      return fail(
        ctx,
        ctx.spec.parentBackup === undefined
          ? `an Incremental backup needs a Completed backup of cluster ${ctx.spec.cluster} to the same destination to build on; there is none (take a Full backup first)`
          : `parent backup ${ctx.spec.parentBackup} is not a Completed backup of cluster ${ctx.spec.cluster} to the same destination`,
      );
    }
    parentBackupId = parent.status?.backupId;
  }
  ctx.status = { ...ctx.status, phase: 'Pending', backupId: backupIdOf(ctx.object), ...(parentBackupId === undefined ? {} : { parentBackupId }) };
  await ctx.persist();
  return undefined;
}

/** Pending → Running: journal first, then ask the runner. */
async function start(ctx: BackupContext): Promise<ReconcileOutcome> {
  ctx.status = { ...ctx.status, phase: 'Running', startedAt: ctx.now() };
  ctx.status.conditions = setCondition(ctx.status.conditions, { type: verifiedCondition, status: 'Unknown', reason: 'NotUploaded', message: 'the backup is being taken' }, new Date(ctx.deps.clock.nowMs()), ctx.object.metadata.generation);
  await ctx.persist();
  try {
    await ctx.deps.runner.start(jobOf(ctx));
  } catch (error) {
    return fail(ctx, errorText(error));
  }
  await ctx.event('Normal', 'BackupStarted', `${ctx.spec.type} backup ${ctx.status.backupId ?? ''} of cluster ${ctx.spec.cluster} started`);
  return { requeueAfterMs: ctx.deps.progressPollMs };
}

/** Running: poll, and once uploaded, verify every object. */
async function followRunning(ctx: BackupContext): Promise<ReconcileOutcome> {
  const job = jobOf(ctx);
  const state = await ctx.deps.runner.state(job);
  switch (state.kind) {
    case 'unknown':
      try {
        await ctx.deps.runner.start(job);
      } catch (error) {
        return fail(ctx, errorText(error));
      }
      return { requeueAfterMs: ctx.deps.progressPollMs };
    case 'failed':
      return fail(ctx, state.message);
    case 'running':
      ctx.status = { ...ctx.status, ranges: state.rangesTotal, rangesDone: state.rangesDone, bytesDone: state.bytesDone };
      await ctx.persist();
      return { requeueAfterMs: ctx.deps.progressPollMs };
    case 'uploaded':
      return verifyUploaded(ctx, state);
  }
}

async function verifyUploaded(ctx: BackupContext, state: { backupTimestamp: string; ranges: number; sizeBytes: number }): Promise<ReconcileOutcome> {
  ctx.status = { ...ctx.status, backupTimestamp: state.backupTimestamp, ranges: state.ranges, rangesDone: state.ranges, sizeBytes: state.sizeBytes };
  ctx.status.conditions = setCondition(ctx.status.conditions, { type: verifiedCondition, status: 'Unknown', reason: 'Verifying', message: 'every object is being re-read and checked' }, new Date(ctx.deps.clock.nowMs()), ctx.object.metadata.generation);
  await ctx.persist();
  let opened;
  try {
    opened = await ctx.deps.destinations.open(ctx.namespace, ctx.spec.destination);
  } catch (error) {
    if (error instanceof VolumeNotInOperatorError) return completeVerifiedByDataNode(ctx, state, error.claimName);
    return fail(ctx, `cannot open the destination to verify the backup: ${errorText(error)}`, 'False');
  }
  try {
    const result = await verifyBackup(opened.store, jobOf(ctx).backupId, { timers: systemTimers, signal: ctx.signal });
    if (result.manifest.backupTimestamp !== state.backupTimestamp) return fail(ctx, `the manifest says timestamp ${result.manifest.backupTimestamp}, the runner reported ${state.backupTimestamp}`, 'False');
    const message = `${result.objects} objects, ${result.bytes} bytes re-read; sizes and SHA-256 checksums match`;
    ctx.status = { ...ctx.status, phase: 'Completed', completedAt: ctx.now(), verified: true, sizeBytes: result.bytes, bytesDone: result.bytes, ranges: result.manifest.ranges.length, rangesDone: result.manifest.ranges.length };
    delete ctx.status.message;
    ctx.status.conditions = setCondition(ctx.status.conditions, { type: verifiedCondition, status: 'True', reason: 'Verified', message }, new Date(ctx.deps.clock.nowMs()), ctx.object.metadata.generation);
    await ctx.persist();
    recordFinished(ctx, 'succeeded');
    await ctx.event('Normal', 'BackupCompleted', `backup ${jobOf(ctx).backupId} at ${state.backupTimestamp}: ${message}`);
    return {};
  } catch (error) {
    if (error instanceof BackupError) return fail(ctx, `verification failed: ${error.message}`, 'False');
    throw error;
  } finally {
    opened.close();
  }
}

/**
 * A volume backup the operator cannot read (it does not mount the claim): the data node that
 * coordinated it re-read every object from the volume (sizes and SHA-256 checksums) before it
 * reported the backup uploaded, so that check is what Verified records here.
 */
async function completeVerifiedByDataNode(ctx: BackupContext, state: { backupTimestamp: string; ranges: number; sizeBytes: number }, claimName: string): Promise<ReconcileOutcome> {
  const message = `the data node re-read every object (${state.sizeBytes} bytes) from volume claim ${claimName}; sizes and SHA-256 checksums match (the operator does not mount the claim)`;
  ctx.status = { ...ctx.status, phase: 'Completed', completedAt: ctx.now(), verified: true, bytesDone: state.sizeBytes };
  delete ctx.status.message;
  ctx.status.conditions = setCondition(ctx.status.conditions, { type: verifiedCondition, status: 'True', reason: 'VerifiedByDataNode', message }, new Date(ctx.deps.clock.nowMs()), ctx.object.metadata.generation);
  await ctx.persist();
  recordFinished(ctx, 'succeeded');
  await ctx.event('Normal', 'BackupCompleted', `backup ${jobOf(ctx).backupId} at ${state.backupTimestamp}: ${message}`);
  return {};
}

function splitKey(key: string): { namespace: string; name: string } {
  const at = key.indexOf('/');
  return { namespace: key.slice(0, at), name: key.slice(at + 1) };
}

/** One reconcile of a PhantomBackup. */
export async function reconcileBackup(deps: BackupControllerDeps, key: string, signal: AbortSignal = new AbortController().signal): Promise<ReconcileOutcome> {
  const { namespace, name } = splitKey(key);
  const ref = { group: apiGroup, version: apiVersionName, plural: backupPlural, namespace, name };
  let object: BackupObject;
  try {
    object = (await deps.custom.getNamespacedCustomObject(ref)) as BackupObject;
  } catch (error) {
    if (isNotFound(error)) return {};
    throw error;
  }
  const phase = object.status?.phase;
  if (phase === 'Completed' || phase === 'Failed') return {};
  const parsed = backupSpecSchema.safeParse(object.spec);
  const ctx: BackupContext = {
    deps,
    signal,
    namespace,
    name,
    object,
    spec: parsed.success ? parsed.data : ({} as PhantomBackupSpec),
    status: structuredClone(object.status ?? {}),
    persist: async () => {
      const written = await writeStatusIfChanged(deps.custom, ref, ctx.object, ctx.status);
      if (written.written) ctx.object = written.object as BackupObject;
    },
    event: (type, reason, message) => deps.events.record({ apiVersion, kind: backupKind, namespace, name, uid: object.metadata.uid }, type, reason, message),
    now: () => isoSeconds(deps.clock.nowMs()),
  };
  try {
    if (!parsed.success) return await fail(ctx, `invalid spec: ${parsed.error.issues.map((issue) => `spec.${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
    if (phase === undefined) {
      const stopped = await prepare(ctx);
      if (stopped !== undefined) return stopped;
    }
    if (ctx.status.phase === 'Pending') return await start(ctx);
    return await followRunning(ctx);
  } catch (error) {
    if (error instanceof StatusConflictError) return { requeueAfterMs: 0 };
    throw error;
  }
}

export interface PhantomBackupControllerOptions {
  readonly kubeConfig: KubeConfig;
  readonly events: EventRecorder;
  readonly clock: Clock;
  readonly runner: BackupRunner;
  /** Default: credentials from Secrets, no volume mounts. */
  readonly destinations?: BackupDestinations;
  readonly namespaces?: readonly string[];
  readonly metrics?: OperatorMetrics;
  readonly progressPollMs?: number;
  readonly log?: (message: string) => void;
}

/** Informer on PhantomBackups → queue → reconcileBackup. */
export class PhantomBackupController extends InformerController {
  protected readonly controller: Controller;

  constructor(options: PhantomBackupControllerOptions) {
    super();
    const custom = options.kubeConfig.makeApiClient(CustomObjectsApi);
    const log = options.log ?? ((message: string) => process.stderr.write(`${message}\n`));
    const deps: BackupControllerDeps = {
      custom,
      events: options.events,
      runner: options.runner,
      destinations: options.destinations ?? new KubeBackupDestinations(options.kubeConfig.makeApiClient(CoreV1Api)),
      clock: options.clock,
      progressPollMs: options.progressPollMs ?? 2_000,
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    };
    this.controller = new Controller({ name: 'phantombackup', reconcile: (key, signal) => reconcileBackup(deps, key, signal), clock: options.clock, workers: 2, log, ...(options.metrics === undefined ? {} : { metrics: options.metrics }) });
    this.informers.push(...customResourceInformers(options, custom, backupPlural, (object) => this.enqueueObject(object), log));
  }

  private enqueueObject(object: KubernetesObject): void {
    const namespace = object.metadata?.namespace;
    const name = object.metadata?.name;
    if (namespace !== undefined && name !== undefined) this.controller.enqueue(`${namespace}/${name}`);
  }
}

/** Restarting informers on a PhantomDB kind, one per watched namespace (or one for all). */
export function customResourceInformers(
  options: { readonly kubeConfig: KubeConfig; readonly clock: Clock; readonly namespaces?: readonly string[]; readonly metrics?: OperatorMetrics },
  custom: CustomObjectsApi,
  plural: string,
  onChange: (object: KubernetesObject) => void,
  log: (message: string) => void,
): RestartingInformer<KubernetesObject>[] {
  const namespaces = options.namespaces !== undefined && options.namespaces.length > 0 ? options.namespaces : [undefined];
  return namespaces.map((namespace) => {
    const informer = new RestartingInformer<KubernetesObject>({
      kubeConfig: options.kubeConfig,
      path: `/apis/${apiGroup}/${apiVersionName}${namespace === undefined ? '' : `/namespaces/${namespace}`}/${plural}`,
      list: async () =>
        (namespace === undefined
          ? await custom.listClusterCustomObject({ group: apiGroup, version: apiVersionName, plural })
          : await custom.listNamespacedCustomObject({ group: apiGroup, version: apiVersionName, namespace, plural })) as KubernetesListObject<KubernetesObject>,
      clock: options.clock,
      onError: (error, restartInMs) => {
        options.metrics?.informerRestarted(plural);
        log(`informer ${plural} failed (${errorText(error)}); restarting in ${restartInMs} ms`);
      },
    });
    for (const event of ['add', 'update', 'delete'] as const) informer.on(event, onChange);
    return informer;
  });
}

