/**
 * PhantomBackup and PhantomScheduledBackup (`phantomdb.io/v1alpha1`): one-off and scheduled
 * backups of a PhantomCluster to an object store or a volume (issue 6 §2).
 */
import { z } from 'zod';
import { apiVersion, conditionSchema, dnsLabelSchema, dnsSubdomainSchema, timestampSchema } from './common.ts';
import { objectMetaSchema } from './cluster.ts';
import { backupDestinationSchema, backupTypeSchema } from './destination.ts';
import { withRules } from './rules.ts';

export const backupKind = 'PhantomBackup';
export const scheduledBackupKind = 'PhantomScheduledBackup';

export const backupSpecSchema = withRules(
  z
    .object({
      cluster: dnsLabelSchema.describe('The PhantomCluster to back up, in the same namespace.'),
      destination: backupDestinationSchema,
      type: backupTypeSchema.default('Full').describe('Full copies everything; Incremental copies what changed since the previous backup of the chain.'),
      parentBackup: dnsSubdomainSchema.optional().describe('For Incremental: the PhantomBackup this one builds on (the latest completed one of the cluster when empty).'),
    })
    .describe('A one-off backup. Immutable once created.'),
  [{ rule: 'self == oldSelf', message: 'spec of a PhantomBackup is immutable; create a new backup instead' }],
);
export type PhantomBackupSpec = z.output<typeof backupSpecSchema>;

export const backupPhaseSchema = z.enum(['Pending', 'Running', 'Completed', 'Failed']);
export type BackupPhase = z.output<typeof backupPhaseSchema>;

export const backupStatusSchema = z.object({
  phase: backupPhaseSchema.optional(),
  startedAt: timestampSchema.optional(),
  completedAt: timestampSchema.optional(),
  backupTimestamp: z.string().max(64).optional().describe('Cluster (hybrid logical clock) timestamp the backup is consistent at.'),
  backupId: z.string().max(128).optional(),
  parentBackupId: z.string().max(128).optional().describe('For Incremental: the backup ID it builds on.'),
  sizeBytes: z.number().int().min(0).optional(),
  ranges: z.number().int().min(0).optional().describe('Ranges in the backup.'),
  rangesDone: z.number().int().min(0).optional().describe('Ranges exported so far (progress while Running).'),
  bytesDone: z.number().int().min(0).optional().describe('Bytes uploaded so far (progress while Running).'),
  verified: z.boolean().optional().describe('Every object was re-read and matched its size and checksum.'),
  message: z.string().max(4096).optional().describe('Why the backup failed.'),
  observedGeneration: z.number().int().min(0).optional(),
  conditions: z.array(conditionSchema).max(16).optional().meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
});
export type PhantomBackupStatus = z.output<typeof backupStatusSchema>;

export const phantomBackupSchema = z.object({
  apiVersion: z.literal(apiVersion),
  kind: z.literal(backupKind),
  metadata: objectMetaSchema,
  spec: backupSpecSchema,
  status: backupStatusSchema.optional(),
});
export type PhantomBackup = z.output<typeof phantomBackupSchema>;

/** Five cron fields (minute hour day-of-month month day-of-week) or a macro such as @daily. */
const cronPattern = /^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|(\S+\s+){4}\S+)$/;
/** Durations such as 36h, 7d, 4w. */
const retentionDurationPattern = /^[1-9][0-9]{0,4}(h|d|w)$/;

export const scheduledBackupSpecSchema = withRules(
  z.object({
    cluster: dnsLabelSchema.describe('The PhantomCluster to back up, in the same namespace.'),
    schedule: z.string().max(128).regex(cronPattern, { error: 'spec.schedule must be a cron schedule of five fields, e.g. "0 3 * * *", or a macro such as @daily' }).describe('Cron schedule (UTC).'),
    destination: backupDestinationSchema,
    type: backupTypeSchema.default('Full').describe('Full: every backup is full. Incremental: chains of incremental backups, each starting with a full one.'),
    fullEvery: z.number().int().min(1).max(1000).default(7).describe('With type Incremental, every fullEvery-th backup is a full one that starts a new chain.'),
    retention: z
      .object({
        keepLast: z.number().int().min(1).max(10_000).optional().describe('Keep at most this many completed backups (whole chains are kept).'),
        maxAge: z.string().regex(retentionDurationPattern, { error: 'spec.retention.maxAge must be a duration such as "36h", "7d" or "4w"' }).optional().describe('Delete backups older than this (e.g. 7d).'),
      })
      .optional()
      .describe('Which backups are kept; expired ones are deleted from the destination. All are kept when empty.'),
    suspend: z.boolean().default(false).describe('Stop starting new backups; running ones finish.'),
  }),
  [
    {
      rule: '!has(self.retention) || has(self.retention.keepLast) || has(self.retention.maxAge)',
      message: 'spec.retention needs keepLast or maxAge (or leave spec.retention out to keep every backup)',
      fieldPath: '.retention',
      check: (spec) =>
        spec.retention !== undefined && spec.retention.keepLast === undefined && spec.retention.maxAge === undefined
          ? 'spec.retention needs keepLast or maxAge (or leave spec.retention out to keep every backup)'
          : undefined,
    },
  ],
);
export type PhantomScheduledBackupSpec = z.output<typeof scheduledBackupSpecSchema>;

export const scheduledBackupStatusSchema = z.object({
  lastScheduleTime: timestampSchema.optional(),
  nextScheduleTime: timestampSchema.optional(),
  lastSuccessfulBackup: z.string().max(253).optional().describe('Name of the last PhantomBackup that completed.'),
  lastSuccessfulTime: timestampSchema.optional(),
  activeBackup: z.string().max(253).optional().describe('Name of the PhantomBackup running now.'),
  backupsInChain: z.number().int().min(0).optional().describe('Backups taken in the current chain (type Incremental).'),
  observedGeneration: z.number().int().min(0).optional(),
  conditions: z.array(conditionSchema).max(16).optional().meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
});
export type PhantomScheduledBackupStatus = z.output<typeof scheduledBackupStatusSchema>;

export const phantomScheduledBackupSchema = z.object({
  apiVersion: z.literal(apiVersion),
  kind: z.literal(scheduledBackupKind),
  metadata: objectMetaSchema,
  spec: scheduledBackupSpecSchema,
  status: scheduledBackupStatusSchema.optional(),
});
export type PhantomScheduledBackup = z.output<typeof phantomScheduledBackupSchema>;
