/**
 * Where backups live: an S3-compatible object store or a volume. Shared by PhantomBackup,
 * PhantomScheduledBackup and a cluster's `spec.bootstrap.fromBackup`.
 */
import { z } from 'zod';
import { dnsLabelSchema, dnsSubdomainSchema } from './common.ts';
import { withRules } from './rules.ts';

export const s3DestinationSchema = z
  .object({
    bucket: z.string().min(3).max(63).describe('Bucket name.'),
    prefix: z.string().max(512).default('').describe('Key prefix under which backups of this cluster are written.'),
    endpoint: z.url().optional().describe('Endpoint URL of an S3-compatible store (empty for AWS S3).'),
    region: z.string().max(64).default('us-east-1').describe('Region of the bucket.'),
    forcePathStyle: z.boolean().default(false).describe('Address the bucket in the path (MinIO, s3rver) rather than in the host name.'),
    credentials: z
      .object({
        secretName: dnsSubdomainSchema.describe('Secret in the namespace of the backup holding the access key.'),
        accessKeyIdKey: z.string().min(1).default('accessKeyId').describe('Key of the access key ID in the Secret.'),
        secretAccessKeyKey: z.string().min(1).default('secretAccessKey').describe('Key of the secret access key in the Secret.'),
      })
      .optional()
      .describe('Static credentials; without them the pod environment (IRSA, workload identity) is used.'),
  })
  .describe('An S3-compatible object store.');

export const volumeDestinationSchema = z
  .object({
    claimName: dnsLabelSchema.describe('PersistentVolumeClaim (ReadWriteMany, or ReadWriteOnce on one node) to write backups to.'),
    path: z
      .string()
      .max(1024)
      .regex(/^\/([^.]|\.[^.]|$)*$/, { error: 'must be an absolute path without ".."' })
      .default('/')
      .describe('Directory inside the volume.'),
  })
  .describe('A volume mounted by the data nodes.');

export const backupDestinationSchema = withRules(
  z
    .object({
      s3: s3DestinationSchema.optional(),
      volume: volumeDestinationSchema.optional(),
    })
    .describe('Exactly one of s3 or volume.'),
  [
    {
      rule: 'has(self.s3) != has(self.volume)',
      message: 'exactly one of s3 or volume must be set',
      check: (value) => ((value.s3 === undefined) === (value.volume === undefined) ? 'exactly one of s3 or volume must be set' : undefined),
    },
  ],
);
export type BackupDestination = z.output<typeof backupDestinationSchema>;

export const backupTypeSchema = z.enum(['Full', 'Incremental']);
export type BackupType = z.output<typeof backupTypeSchema>;
