/**
 * The benchmarks measure what users run: the data node compiled by `tsc` (as the image runs it,
 * `npm run build`), not the TypeScript sources through tsx. tsx's on-the-fly transform keeps
 * function names by wrapping every named closure in a helper call, a per-request cost the
 * shipped build does not have. The bench's own client library is loaded from the same build, so
 * our client pays no more per call than the anchors' compiled JavaScript clients.
 *
 * BENCH_FROM_SOURCE=1 runs everything from source through tsx instead (quicker to iterate on).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from './common.ts';

export interface NodeBuild {
  /** What the benchmark runs: 'compiled (tsc)' or 'source (tsx)', for the results. */
  readonly kind: string;
  /** The arguments before phantomdb-node's own (`start ...`) for `node` (process.execPath). */
  readonly nodeArgs: readonly string[];
  /** Imports a module of datanode/src by its path below it, from the build, e.g. 'kv/client.ts'. */
  importDatanode<T>(module: string): Promise<T>;
}

/** Compiles datanode/ and operator/ into .phantomdb/bench-build (fresh each run), or uses the sources. */
export function nodeBuild(progress: (line: string) => void): NodeBuild {
  if (process.env.BENCH_FROM_SOURCE === '1') {
    return {
      kind: 'source (tsx)',
      nodeArgs: ['--import', 'tsx', path.join(repoRoot, 'datanode/src/main.ts')],
      importDatanode: <T>(module: string) => import(pathToFileURL(path.join(repoRoot, 'datanode/src', module)).href) as Promise<T>,
    };
  }
  const root = path.join(repoRoot, '.phantomdb', 'bench-build');
  const dist = path.join(root, 'dist');
  progress(`compiling the data node with tsc into ${path.relative(repoRoot, dist)} (BENCH_FROM_SOURCE=1 skips this)`);
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  execFileSync(process.execPath, [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', path.join(repoRoot, 'tsconfig.build.json'), '--outDir', dist], { cwd: repoRoot, stdio: 'inherit' });
  // The layout of the image (datanode/Dockerfile): proto files beside the compiled tree, the
  // package.json above it (the binary version), node_modules resolved from the repository.
  fs.cpSync(path.join(repoRoot, 'datanode/proto'), path.join(dist, 'datanode/proto'), { recursive: true });
  fs.copyFileSync(path.join(repoRoot, 'package.json'), path.join(root, 'package.json'));
  fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(root, 'node_modules'));
  const compiled = (module: string): string => path.join(dist, 'datanode/src', module.replace(/\.ts$/, '.js'));
  return {
    kind: 'compiled (tsc)',
    nodeArgs: [compiled('main.ts')],
    importDatanode: <T>(module: string) => import(pathToFileURL(compiled(module)).href) as Promise<T>,
  };
}
