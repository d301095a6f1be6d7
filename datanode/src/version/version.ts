/**
 * Versions of PhantomDB binaries and of a cluster, and the rules that relate them.
 *
 * - A **binary version** is what a `phantomdb-node` build is: `MAJOR.MINOR.PATCH`, optionally
 *   with a pre-release (`-rc.1`) and build metadata (`+<commit>`), as in semver.
 * - The **cluster version** is a replicated record in the meta range: the version whose on-disk
 *   and protocol features the whole cluster may use. It is set at bootstrap to the bootstrapping
 *   binary's version and only moves up, through FinalizeClusterVersion, once every live node
 *   runs a binary at least that new.
 * - A binary **can run** cluster versions from its `clusterVersionMin` up to its own version: a
 *   new binary still speaks the formats of the previous cluster version (a mixed cluster during a
 *   rolling upgrade), an old binary never runs a cluster finalized past it.
 *
 * Pure functions only: no I/O (binary.ts reads the build's version).
 */

/** A parsed version. Build metadata is kept for display and ignored by comparisons (semver §10). */
export interface Version {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** '' for a release; a pre-release sorts before its release. */
  readonly prerelease: string;
  readonly build: string;
}

/** Thrown for a string that is not a version; callers at the edge turn it into their own error. */
export class VersionSyntaxError extends Error {
  override readonly name = 'VersionSyntaxError';
}

const versionPattern = /^v?(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})(?:-([0-9A-Za-z.-]{1,64}))?(?:\+([0-9A-Za-z.-]{1,64}))?$/;

/** Parses `MAJOR.MINOR.PATCH[-pre][+build]` (a leading `v` is accepted). Throws VersionSyntaxError. */
export function parseVersion(text: string): Version {
  const match = versionPattern.exec(text.trim());
  if (match === null) throw new VersionSyntaxError(`${JSON.stringify(text)} is not a version (MAJOR.MINOR.PATCH[-pre][+build])`);
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]), prerelease: match[4] ?? '', build: match[5] ?? '' };
}

/** Whether `text` parses as a version. */
export function isVersion(text: string): boolean {
  return versionPattern.test(text.trim());
}

/** `MAJOR.MINOR.PATCH[-pre]`: the part comparisons look at (no build metadata). */
export function formatVersion(version: Version): string {
  return `${version.major}.${version.minor}.${version.patch}${version.prerelease === '' ? '' : `-${version.prerelease}`}`;
}

function comparePrereleaseParts(a: string, b: string): number {
  const aNumeric = /^\d+$/.test(a);
  const bNumeric = /^\d+$/.test(b);
  if (aNumeric && bNumeric) return Math.sign(Number(a) - Number(b));
  if (aNumeric !== bNumeric) return aNumeric ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function comparePrerelease(a: string, b: string): number {
  if (a === b) return 0;
  if (a === '') return 1;
  if (b === '') return -1;
  const left = a.split('.');
  const right = b.split('.');
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const order = comparePrereleaseParts(left[i] ?? '', right[i] ?? '');
    if (order !== 0) return order;
  }
  return Math.sign(left.length - right.length);
}

/** Negative when a < b, 0 when equal (build metadata ignored), positive when a > b. */
export function compareVersions(a: Version | string, b: Version | string): number {
  const left = typeof a === 'string' ? parseVersion(a) : a;
  const right = typeof b === 'string' ? parseVersion(b) : b;
  return Math.sign(left.major - right.major) || Math.sign(left.minor - right.minor) || Math.sign(left.patch - right.patch) || comparePrerelease(left.prerelease, right.prerelease);
}

/** a >= b. */
export function versionAtLeast(a: Version | string, b: Version | string): boolean {
  return compareVersions(a, b) >= 0;
}

/** What a binary is and which cluster versions it can run. */
export interface BinaryVersion {
  /** The build's version, e.g. `0.2.0` (with `+<commit>` when the build commit is known). */
  readonly version: string;
  /** The oldest cluster version this binary can run (at most `version`). */
  readonly clusterVersionMin: string;
}

/** The cluster versions `binary` can run, as text for messages: `0.1.0..0.2.0`. */
export function runnableRange(binary: BinaryVersion): string {
  return `${formatVersion(parseVersion(binary.clusterVersionMin))}..${formatVersion(parseVersion(binary.version))}`;
}

/**
 * Why `binary` cannot run a cluster at `clusterVersion`, or undefined when it can: the cluster
 * version must lie in [clusterVersionMin, version]. A newer cluster version means the cluster
 * may already use formats this binary does not know; an older one, formats it no longer reads.
 */
export function cannotRun(binary: BinaryVersion, clusterVersion: string): string | undefined {
  const cluster = parseVersion(clusterVersion);
  const own = parseVersion(binary.version);
  if (compareVersions(cluster, own) > 0) {
    return `the cluster version is ${formatVersion(cluster)}, newer than this binary's version ${binary.version} (it runs cluster versions ${runnableRange(binary)}): upgrade this node's binary to ${formatVersion(cluster)} or later`;
  }
  if (compareVersions(cluster, binary.clusterVersionMin) < 0) {
    return `the cluster version is ${formatVersion(cluster)}, older than the oldest this binary ${binary.version} runs (${runnableRange(binary)}): upgrade the cluster through an intermediate version first`;
  }
  return undefined;
}

/**
 * Feature gates: a feature that changes an on-disk or protocol format is named here with the
 * cluster version that introduces it. Code asks `gates.enabled('name')` before writing the new
 * format; it switches on only once the cluster version is finalized at or past that version, so
 * a node that has not been upgraded yet never meets a format it cannot read.
 */
export const clusterFeatures = {
  /**
   * The baseline format of 0.1.0, the first cluster version: key layout 3 (MVCC versions), writes
   * (put, delete, cas) stamped with an HLC timestamp, the address book, member lifecycle, splits
   * and the meta range's descriptor copies (command ops 1-8). Builds from before it (key layout
   * 2, unstamped writes, no cluster version record) cannot be mixed with it or upgraded in place.
   */
  baseline: '0.1.0',
  /** The replicated cluster version record itself (command op 64; every cluster has it from bootstrap on). */
  clusterVersionRecord: '0.1.0',
  /** Closed timestamps (command op 9), which reads and backups at a timestamp rely on. */
  closedTimestamps: '0.1.0',
  /** Protected timestamps in the meta range (command ops 10 and 11), which hold GC back for backups. */
  protectedTimestamps: '0.1.0',
  /** Named meta-range records (command op 20): liveness and drain records of the placement driver. */
  metaRecords: '0.1.0',
} as const satisfies Record<string, string>;

export type ClusterFeature = keyof typeof clusterFeatures;

/** Answers feature questions against the cluster version as this node currently knows it. */
export class FeatureGates<Feature extends string = ClusterFeature> {
  private enabledFor: string | undefined;
  private enabledNow = new Set<Feature>();

  constructor(
    private readonly clusterVersion: () => string,
    private readonly features: Readonly<Record<Feature, string>>,
  ) {
    for (const [name, version] of Object.entries<string>(features)) {
      if (!isVersion(version)) throw new VersionSyntaxError(`feature ${name}: ${JSON.stringify(version)} is not a version`);
    }
  }

  /** Whether the cluster version is at least `version` (for checks without a named feature). */
  atLeast(version: string): boolean {
    return versionAtLeast(this.clusterVersion(), version);
  }

  /**
   * Whether `feature` may be used: the cluster is finalized at or past the version that introduced
   * it. Asked on every proposal, so the answer is kept until the cluster version changes.
   */
  enabled(feature: Feature): boolean {
    const clusterVersion = this.clusterVersion();
    if (clusterVersion !== this.enabledFor) {
      this.enabledNow = new Set((Object.keys(this.features) as Feature[]).filter((name) => versionAtLeast(clusterVersion, this.features[name])));
      this.enabledFor = clusterVersion;
    }
    return this.enabledNow.has(feature);
  }

  /** The version that introduced `feature`. */
  introducedIn(feature: Feature): string {
    return this.features[feature];
  }

  /** The cluster version the answers are given for now. */
  current(): string {
    return this.clusterVersion();
  }

  /** The features enabled now, by name (for status pages and logs). */
  enabledFeatures(): Feature[] {
    return (Object.keys(this.features) as Feature[]).filter((feature) => this.enabled(feature));
  }
}
