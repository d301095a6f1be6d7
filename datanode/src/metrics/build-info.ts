/**
 * The commit a data node reports in `phantomdb_build_info` (its version label is the binary
 * version, binaryVersion() in version/binary.ts). The commit comes from PHANTOMDB_COMMIT (set by
 * the image build), else from the checkout the node runs from, else 'unknown'.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const repoRoot = path.resolve(import.meta.dirname, '..', '..', '..');

/** The commit of the git checkout at `root` (HEAD, following one symbolic ref), or undefined. */
export function gitCommitOf(root: string): string | undefined {
  try {
    const gitDir = path.join(root, '.git');
    const head = fs.readFileSync(path.join(gitDir, 'HEAD'), 'utf8').trim();
    if (!head.startsWith('ref: ')) return /^[0-9a-f]{40}$/.test(head) ? head : undefined;
    const ref = head.slice(5);
    const loose = path.join(gitDir, ref);
    if (fs.existsSync(loose)) return fs.readFileSync(loose, 'utf8').trim();
    const packed = fs.readFileSync(path.join(gitDir, 'packed-refs'), 'utf8');
    return packed.split('\n').find((line) => line.endsWith(` ${ref}`))?.split(' ')[0];
  } catch {
    return undefined;
  }
}

export function buildCommit(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.PHANTOMDB_COMMIT;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return gitCommitOf(repoRoot)?.slice(0, 12) ?? 'unknown';
}
