import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { binaryVersionOf, clusterVersionMinSupported, packageVersion } from './binary.ts';
import { cannotRun, compareVersions, FeatureGates, formatVersion, isVersion, parseVersion, runnableRange, versionAtLeast, VersionSyntaxError } from './version.ts';

describe('parseVersion', () => {
  it('reads MAJOR.MINOR.PATCH with an optional v, pre-release and build metadata', () => {
    expect(parseVersion('1.22.3')).toEqual({ major: 1, minor: 22, patch: 3, prerelease: '', build: '' });
    expect(parseVersion('v0.2.0-rc.1+abc123')).toEqual({ major: 0, minor: 2, patch: 0, prerelease: 'rc.1', build: 'abc123' });
    expect(formatVersion(parseVersion('0.2.0-rc.1+abc123'))).toBe('0.2.0-rc.1');
  });
  it('refuses what is not a version', () => {
    for (const bad of ['', '1', '1.2', '1.2.3.4', '01.2.3', 'latest', '1.2.x', '1.2.3-', '1.2.3+']) {
      expect(() => parseVersion(bad), bad).toThrow(VersionSyntaxError);
      expect(isVersion(bad), bad).toBe(false);
    }
  });
});

describe('compareVersions', () => {
  it('orders numerically, not as text', () => {
    expect(compareVersions('0.10.0', '0.9.9')).toBe(1);
    expect(compareVersions('2.0.0', '10.0.0')).toBe(-1);
    expect(compareVersions('1.2.3', '1.2.3')).toBe(0);
  });
  it('puts a pre-release before its release and orders pre-release parts as semver does', () => {
    const ordered = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0'];
    for (let i = 0; i + 1 < ordered.length; i++) {
      expect(compareVersions(ordered[i] ?? '', ordered[i + 1] ?? ''), `${ordered[i]} < ${ordered[i + 1]}`).toBe(-1);
      expect(compareVersions(ordered[i + 1] ?? '', ordered[i] ?? '')).toBe(1);
    }
  });
  it('ignores build metadata', () => {
    expect(compareVersions('0.2.0+aaa', '0.2.0+bbb')).toBe(0);
    expect(versionAtLeast('0.2.0+aaa', '0.2.0')).toBe(true);
    expect(versionAtLeast('0.1.9', '0.2.0')).toBe(false);
  });
});

describe('cannotRun', () => {
  const binary = { version: '0.2.0+abc', clusterVersionMin: '0.1.0' };
  it('accepts every cluster version from the oldest supported to its own', () => {
    expect(cannotRun(binary, '0.1.0')).toBeUndefined();
    expect(cannotRun(binary, '0.1.5')).toBeUndefined();
    expect(cannotRun(binary, '0.2.0')).toBeUndefined();
    expect(runnableRange(binary)).toBe('0.1.0..0.2.0');
  });
  it('refuses a newer cluster version, naming both versions', () => {
    const why = cannotRun(binary, '0.3.0');
    expect(why).toContain('0.3.0');
    expect(why).toContain('0.2.0');
    expect(why).toContain('upgrade this node');
  });
  it('refuses a cluster version older than it supports', () => {
    expect(cannotRun({ version: '0.5.0', clusterVersionMin: '0.4.0' }, '0.3.0')).toContain('older than the oldest');
  });
});

describe('binaryVersionOf', () => {
  it('is the package version, with the build commit as build metadata', () => {
    expect(binaryVersionOf({}, '0.1.0')).toEqual({ version: '0.1.0', clusterVersionMin: clusterVersionMinSupported });
    expect(binaryVersionOf({ PHANTOMDB_COMMIT: 'deadbeef\n' }, '0.1.0').version).toBe('0.1.0+deadbeef');
  });
  it('takes the test-only override, and never supports a cluster newer than itself', () => {
    expect(binaryVersionOf({ PHANTOMDB_TEST_BINARY_VERSION: '0.3.0' }, '0.1.0')).toEqual({ version: '0.3.0', clusterVersionMin: clusterVersionMinSupported });
    expect(binaryVersionOf({ PHANTOMDB_TEST_BINARY_VERSION: '0.0.5' }, '0.1.0')).toEqual({ version: '0.0.5', clusterVersionMin: '0.0.5' });
    expect(() => binaryVersionOf({ PHANTOMDB_TEST_BINARY_VERSION: 'new' }, '0.1.0')).toThrow(VersionSyntaxError);
  });
});

describe('packageVersion', () => {
  it("finds the phantomdb package.json from the source tree and from a compiled tree one level deeper (dist/, as in the image)", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'phantomdb-version-'));
    try {
      fs.writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'phantomdb', version: '1.2.3' }));
      const compiled = path.join(root, 'dist', 'datanode', 'src', 'version');
      fs.mkdirSync(compiled, { recursive: true });
      // A package.json of something else on the way up is not ours.
      fs.writeFileSync(path.join(root, 'dist', 'package.json'), JSON.stringify({ name: 'other', version: '9.9.9' }));
      expect(packageVersion(compiled)).toBe('1.2.3');
      expect(packageVersion(path.join(root, 'datanode', 'src', 'version'))).toBe('1.2.3');
      expect(packageVersion(os.tmpdir())).toBe('0.0.0');
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
  it('reads this checkout', () => {
    const own = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string };
    expect(packageVersion()).toBe(own.version);
  });
});

describe('FeatureGates', () => {
  const features = { oldThing: '0.1.0', newFormat: '0.3.0' };
  it('switches a feature on only once the cluster version reaches it', () => {
    let cluster = '0.2.0';
    const gates = new FeatureGates(() => cluster, features);
    expect(gates.enabled('oldThing')).toBe(true);
    expect(gates.enabled('newFormat')).toBe(false);
    expect(gates.atLeast('0.2.0')).toBe(true);
    expect(gates.enabledFeatures()).toEqual(['oldThing']);
    cluster = '0.3.0';
    expect(gates.enabled('newFormat')).toBe(true);
    expect(gates.enabledFeatures()).toEqual(['oldThing', 'newFormat']);
  });
  it('is not switched on by a pre-release of the version', () => {
    expect(new FeatureGates(() => '0.3.0-rc.1', features).enabled('newFormat')).toBe(false);
  });
  it('refuses a feature declared with a malformed version', () => {
    expect(() => new FeatureGates(() => '0.1.0', { broken: 'soon' })).toThrow(VersionSyntaxError);
  });
});
