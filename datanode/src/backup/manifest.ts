/**
 * The backup manifest: the one object that says what a backup is. It is written last, after
 * every data object was uploaded, so a backup without a manifest is an unfinished one.
 *
 * Layout at a destination (object keys):
 *   <backupId>/manifest.json
 *   <backupId>/ranges/<rangeId>/<nnnnnn>.sst
 *
 * Keys in spans are hex (the empty string is the start of the keyspace for `startKey` and its
 * end for `endKey`). Timestamps are hybrid-logical-clock text (`<wallMs>.<logical>`).
 */
import { z } from 'zod';
import { type HlcTimestamp, compareTimestamps, parseTimestamp } from '../hlc/hlc.ts';
import { BackupManifestInvalidError } from './errors.ts';

export const backupFormatVersion = 1;
export const manifestFileName = 'manifest.json';
/** A manifest larger than this is refused before parsing. */
export const manifestBytesMax = 64 * 1024 * 1024;

const hexKey = z.string().max(2 * 64 * 1024).regex(/^([0-9a-f]{2})*$/, { error: 'must be lowercase hex' });
/** The timestamp, or undefined when the text is not one (zod still runs refinements on bad fields). */
function tryParseTimestamp(text: string): HlcTimestamp | undefined {
  try {
    return parseTimestamp(text);
  } catch {
    return undefined;
  }
}
const hlcText = z.string().refine((text) => tryParseTimestamp(text) !== undefined, { error: 'must be an HLC timestamp <wallMs>.<logical>' });
/**
 * A backup id names the backup's folder at the destination: lowercase letters, digits, '.',
 * '_' and '-', starting with a letter or digit, at most `backupIdLengthMax` characters (an
 * operator's id is the PhantomBackup's name, lowercase by Kubernetes' rules, and a short uid).
 * The admin API refuses any other id before a backup starts (admin/service.ts), so a backup
 * never runs to its end only to fail writing its manifest.
 */
export const backupIdLengthMax = 200;
export const backupIdPattern = /^[a-z0-9][a-z0-9._-]*$/;
export const backupIdRule = `1-${backupIdLengthMax} lowercase letters, digits, '.', '_' or '-', starting with a letter or digit`;
const backupIdSchema = z.string().min(1).max(backupIdLengthMax).regex(backupIdPattern, { error: 'must be lowercase letters, digits, ".", "_" or "-"' });

export const backupFileSchema = z.object({
  /** Object key relative to the destination root. */
  objectKey: z.string().min(1).max(1024),
  sizeBytes: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, { error: 'must be 64 lowercase hex digits' }),
  entries: z.number().int().min(0),
  smallestKey: hexKey,
  largestKey: hexKey,
});
export type BackupFile = z.output<typeof backupFileSchema>;

export const backupRangeSchema = z.object({
  rangeId: z.number().int().min(1),
  startKey: hexKey,
  endKey: hexKey,
  files: z.array(backupFileSchema).max(100_000),
});
export type BackupRange = z.output<typeof backupRangeSchema>;

export const backupManifestSchema = z
  .object({
    formatVersion: z.literal(backupFormatVersion),
    clusterId: z.string().min(1).max(128),
    backupId: backupIdSchema,
    type: z.enum(['full', 'incremental']),
    /** Every range's data is as of this timestamp. */
    backupTimestamp: hlcText,
    /** For incremental: the backup this one builds on, and its timestamp (changes after it are here). */
    parent: z.object({ backupId: backupIdSchema, backupTimestamp: hlcText }).optional(),
    dataNodeVersion: z.string().min(1).max(64),
    createdAt: z.iso.datetime(),
    ranges: z.array(backupRangeSchema).max(1_000_000),
    totalBytes: z.number().int().min(0),
  })
  .superRefine((manifest, ctx) => {
    if ((manifest.type === 'incremental') !== (manifest.parent !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['parent'], message: 'an incremental backup needs a parent, and a full one has none' });
    }
    const parentAt = manifest.parent === undefined ? undefined : tryParseTimestamp(manifest.parent.backupTimestamp);
    const at = tryParseTimestamp(manifest.backupTimestamp);
    if (parentAt !== undefined && at !== undefined && compareTimestamps(parentAt, at) >= 0) {
      ctx.addIssue({ code: 'custom', path: ['parent', 'backupTimestamp'], message: 'the parent must be older than the backup' });
    }
    const total = manifest.ranges.reduce((sum, range) => sum + range.files.reduce((s, file) => s + file.sizeBytes, 0), 0);
    if (total !== manifest.totalBytes) ctx.addIssue({ code: 'custom', path: ['totalBytes'], message: `is ${manifest.totalBytes} but the files add up to ${total}` });
    const keys = new Set<string>();
    for (const range of manifest.ranges) {
      for (const file of range.files) {
        if (!file.objectKey.startsWith(`${manifest.backupId}/`)) ctx.addIssue({ code: 'custom', path: ['ranges'], message: `object ${file.objectKey} is outside the backup's folder` });
        if (keys.has(file.objectKey)) ctx.addIssue({ code: 'custom', path: ['ranges'], message: `object ${file.objectKey} is listed twice` });
        keys.add(file.objectKey);
      }
    }
  });
export type BackupManifest = z.output<typeof backupManifestSchema>;

/** Object key of a backup's manifest. */
export function manifestKey(backupId: string): string {
  return `${backupId}/${manifestFileName}`;
}

/** Object key of the `index`-th file of a range in a backup. */
export function rangeFileKey(backupId: string, rangeId: number, index: number): string {
  return `${backupId}/ranges/${rangeId}/${String(index).padStart(6, '0')}.sst`;
}

/** Serializes a manifest after checking it against the schema (a writer bug fails here, not at restore). */
export function encodeManifest(manifest: BackupManifest): Buffer {
  const checked = backupManifestSchema.safeParse(manifest);
  if (!checked.success) throw new BackupManifestInvalidError(manifestKey(manifest.backupId), describeIssues(checked.error));
  return Buffer.from(`${JSON.stringify(checked.data, null, 2)}\n`, 'utf8');
}

/** Parses and validates a manifest read from `objectKey`. Throws BackupManifestInvalidError. */
export function decodeManifest(objectKey: string, bytes: Buffer): BackupManifest {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new BackupManifestInvalidError(objectKey, `not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (typeof json === 'object' && json !== null && 'formatVersion' in json && json.formatVersion !== backupFormatVersion) {
    throw new BackupManifestInvalidError(objectKey, `format version ${String(json.formatVersion)} is not supported (this node reads version ${backupFormatVersion})`);
  }
  const parsed = backupManifestSchema.safeParse(json);
  if (!parsed.success) throw new BackupManifestInvalidError(objectKey, describeIssues(parsed.error));
  const expectedKey = manifestKey(parsed.data.backupId);
  if (objectKey !== expectedKey) throw new BackupManifestInvalidError(objectKey, `names backup ${parsed.data.backupId}, which belongs at ${expectedKey}`);
  return parsed.data;
}

function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
}
