import * as path from 'node:path';
import { CorruptionError } from './errors.ts';
import { type StorageFs, realFs } from './fs.ts';
import { readRecordLog } from './record-log.ts';
import { TableReader } from './sstable/table-reader.ts';
import { Version, decodeEdit } from './version.ts';
import { decodeWriteBatch } from './write-batch.ts';

export interface VerifyProblem {
  readonly file: string;
  readonly offset: number;
  readonly detail: string;
}

export interface VerifyReport {
  readonly manifest: string;
  readonly tables: number;
  readonly blocks: number;
  readonly walFiles: number;
  readonly walRecords: number;
  readonly problems: readonly VerifyProblem[];
}

const asProblem = (err: unknown): VerifyProblem => {
  if (err instanceof CorruptionError) return { file: err.file, offset: err.offset, detail: err.detail };
  throw err;
};

/**
 * Checks every checksum of a stopped engine's data directory without changing anything: the
 * manifest's records, every block of every live table, every WAL record. A torn WAL or manifest
 * tail (the normal result of a crash) is reported through `progress`, not as a problem.
 */
export function verifyDataDir(dir: string, progress: (line: string) => void = () => {}, fs: StorageFs = realFs): VerifyReport {
  const problems: VerifyProblem[] = [];
  const currentPath = path.join(dir, 'CURRENT');
  if (!fs.existsSync(currentPath)) {
    return { manifest: '(none)', tables: 0, blocks: 0, walFiles: 0, walRecords: 0, problems: [{ file: currentPath, offset: 0, detail: 'CURRENT is missing: not a PhantomDB data directory, or it was never opened' }] };
  }
  const manifestName = fs.readFileSync(currentPath).toString('utf8').trim();
  const manifestPath = path.join(dir, manifestName);
  let version = Version.empty(12);
  let logNumber = 0;
  try {
    const read = readRecordLog(fs, manifestPath);
    if (read.tornBytes > 0) progress(`note: ${manifestPath} ends in a torn record of ${read.tornBytes} bytes (recovery drops it)`);
    read.records.forEach((payload, i) => {
      const edit = decodeEdit(payload, manifestPath, read.payloadOffsets[i] ?? 0);
      version = version.apply(edit);
      if (edit.logNumber !== undefined) logNumber = edit.logNumber;
    });
  } catch (err) {
    problems.push(asProblem(err));
  }
  let blocks = 0;
  const files = version.allFiles();
  files.forEach((f, i) => {
    const p = path.join(dir, `${String(f.number).padStart(6, '0')}.sst`);
    progress(`table ${i + 1}/${files.length}: ${p}`);
    try {
      const reader = TableReader.open(fs, p, f.number, { verifyChecksums: true });
      try {
        reader.verify();
        blocks += reader.properties.dataBlockCount;
      } finally {
        reader.close();
      }
    } catch (err) {
      problems.push(asProblem(err));
    }
  });
  const wals = fs
    .readdirSync(dir)
    .map((n) => /^(\d+)\.log$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null && Number(m[1]) >= logNumber)
    .map((m) => m[0]);
  let walRecords = 0;
  for (const name of wals) {
    const p = path.join(dir, name);
    try {
      const read = readRecordLog(fs, p);
      if (read.tornBytes > 0) progress(`note: ${p} ends in a torn record of ${read.tornBytes} bytes (recovery truncates it)`);
      read.records.forEach((payload, i) => decodeWriteBatch(payload, { file: p, offset: read.payloadOffsets[i] ?? 0 }));
      walRecords += read.records.length;
    } catch (err) {
      problems.push(asProblem(err));
    }
  }
  return { manifest: manifestName, tables: files.length, blocks, walFiles: wals.length, walRecords, problems };
}
