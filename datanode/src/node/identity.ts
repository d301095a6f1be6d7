/**
 * A data directory remembers the cluster and node it belongs to (file IDENTITY). Starting it as
 * another cluster or node fails before anything in it is opened or changed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';

export class IdentityMismatchError extends Error {
  readonly code = 'PH_INVALID_OPTIONS';
  override readonly name = 'IdentityMismatchError';
}

const identitySchema = z.object({ clusterId: z.string(), nodeId: z.number().int().min(1) }).strict();
export type NodeIdentity = z.infer<typeof identitySchema>;

const identityFile = 'IDENTITY';

/** Whether `dataDir` already holds a node (its identity file exists). */
export function hasIdentity(dataDir: string): boolean {
  return fs.existsSync(path.join(dataDir, identityFile));
}

/** The identity `dataDir` records, or undefined when it has none yet (IdentityMismatchError when unreadable). */
export function readIdentity(dataDir: string): NodeIdentity | undefined {
  const file = path.join(dataDir, identityFile);
  if (!fs.existsSync(file)) return undefined;
  try {
    return identitySchema.parse(JSON.parse(fs.readFileSync(file, 'utf8')));
  } catch (err) {
    throw new IdentityMismatchError(`data directory ${dataDir}: ${file} is unreadable or malformed (${err instanceof Error ? err.message : String(err)}); refusing to start`);
  }
}

/**
 * Checks `dataDir`'s identity against `expected`, or records it when the directory is new.
 * Throws IdentityMismatchError naming both identities when they differ.
 */
export function checkOrRecordIdentity(dataDir: string, expected: NodeIdentity): void {
  const file = path.join(dataDir, identityFile);
  const stored = readIdentity(dataDir);
  if (stored !== undefined) {
    if (stored.clusterId !== expected.clusterId) {
      throw new IdentityMismatchError(
        `data directory ${dataDir} belongs to cluster ${JSON.stringify(stored.clusterId)}, not ${JSON.stringify(expected.clusterId)}; refusing to start (nothing was changed)`,
      );
    }
    if (stored.nodeId !== expected.nodeId) {
      throw new IdentityMismatchError(`data directory ${dataDir} belongs to node ${stored.nodeId}, not node ${expected.nodeId}; refusing to start (nothing was changed)`);
    }
    return;
  }
  if (fs.existsSync(dataDir) && fs.readdirSync(dataDir).length > 0) {
    throw new IdentityMismatchError(`data directory ${dataDir} is not empty but has no ${identityFile} file; refusing to use it`);
  }
  fs.mkdirSync(dataDir, { recursive: true });
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(expected)}\n`);
  const fd = fs.openSync(tmp, 'r');
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
  const dirFd = fs.openSync(dataDir, 'r');
  fs.fsyncSync(dirFd);
  fs.closeSync(dirFd);
}
