/**
 * This build's binary version: the package version (package.json), with the build commit as
 * semver build metadata when the image build recorded it (PHANTOMDB_COMMIT, the variable
 * phantomdb_build_info's commit label reads too), and the
 * oldest cluster version it can run.
 *
 * PHANTOMDB_TEST_BINARY_VERSION (test-only) makes the process claim another version, so that
 * tests can start "old" and "new" nodes from one checkout. It changes what the node reports
 * and which cluster versions it accepts, nothing else: never set it in production.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compareVersions, formatVersion, parseVersion, VersionSyntaxError, type BinaryVersion, type Version } from './version.ts';

/**
 * The oldest cluster version this build still runs (it reads that version's on-disk and wire
 * formats). Raise it only when support for an old format is removed, and say so in the release
 * notes: clusters older than this must upgrade through an intermediate version.
 */
export const clusterVersionMinSupported = '0.1.0';

/**
 * The version of the package this file belongs to ('0.0.0' when no package.json can be read):
 * the nearest package.json named "phantomdb" above this file, so the source tree
 * (datanode/src/version/) and the compiled tree (dist/datanode/src/version/, as in the image)
 * both find the package's.
 */
export function packageVersion(from: string = import.meta.dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const version = phantomdbVersionIn(path.join(dir, 'package.json'));
    if (version !== undefined) return version;
    if (path.dirname(dir) === dir) return '0.0.0';
  }
}

function phantomdbVersionIn(file: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const { name, version } = parsed as Record<string, unknown>;
    return name === 'phantomdb' && typeof version === 'string' ? formatVersion(parseVersion(version)) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The binary version from `env` (PHANTOMDB_TEST_BINARY_VERSION overrides the package version;
 * PHANTOMDB_COMMIT is appended as build metadata). Throws VersionSyntaxError for an
 * override that is not a version. The oldest runnable cluster version is never above the
 * binary's own version.
 */
export function binaryVersionOf(env: NodeJS.ProcessEnv, base: string = packageVersion()): BinaryVersion {
  const override = env['PHANTOMDB_TEST_BINARY_VERSION'];
  let own: Version;
  try {
    own = parseVersion(override === undefined || override === '' ? base : override);
  } catch (err) {
    throw new VersionSyntaxError(`PHANTOMDB_TEST_BINARY_VERSION: ${err instanceof Error ? err.message : String(err)}`);
  }
  const commit = (env['PHANTOMDB_COMMIT'] ?? '').trim().replace(/[^0-9A-Za-z.-]/g, '').slice(0, 40);
  const build = commit !== '' ? commit : own.build;
  const version = `${formatVersion(own)}${build === '' ? '' : `+${build}`}`;
  const clusterVersionMin = compareVersions(clusterVersionMinSupported, own) <= 0 ? clusterVersionMinSupported : formatVersion(own);
  return { version, clusterVersionMin };
}

let cached: BinaryVersion | undefined;

/** This process's binary version (read once). */
export function binaryVersion(): BinaryVersion {
  cached ??= binaryVersionOf(process.env);
  return cached;
}
