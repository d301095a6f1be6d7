/**
 * Legacy (unaggregated) discovery documents: `/api`, `/api/v1`, `/apis`, `/apis/<group>` and
 * `/apis/<group>/<version>`, derived from the registry so that they follow CRDs as they come and go.
 */
import type { JsonObject } from './json.ts';
import { apiVersionOf, type ResourceRegistry, type ResourceType, type ServedVersion } from './resources.ts';

const resourceVerbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const subresourceVerbs = ['get', 'patch', 'update'];

export function apiVersions(serverAddress: string): JsonObject {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

function resourceEntries(type: ResourceType, version: ServedVersion): JsonObject[] {
  const main: JsonObject = {
    name: type.plural,
    singularName: type.singular,
    namespaced: type.namespaced,
    kind: type.kind,
    verbs: resourceVerbs,
  };
  if (type.shortNames.length > 0) main['shortNames'] = [...type.shortNames];
  if (type.categories.length > 0) main['categories'] = [...type.categories];
  const entries = [main];
  if (version.statusSubresource) {
    entries.push({ name: `${type.plural}/status`, singularName: '', namespaced: type.namespaced, kind: type.kind, verbs: subresourceVerbs });
  }
  if (version.scale !== undefined) {
    entries.push({ name: `${type.plural}/scale`, singularName: '', namespaced: type.namespaced, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: subresourceVerbs });
  }
  return entries;
}

/** The APIResourceList of one group/version, or undefined when nothing is served there. */
export function apiResourceList(registry: ResourceRegistry, group: string, version: string): JsonObject | undefined {
  const resources: JsonObject[] = [];
  for (const type of registry.all()) {
    if (type.group !== group) continue;
    const served = type.versions.find((candidate) => candidate.name === version);
    if (served !== undefined) resources.push(...resourceEntries(type, served));
  }
  if (resources.length === 0) return undefined;
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf(group, version), resources };
}

function apiGroup(name: string, versions: readonly string[]): JsonObject {
  const entries = versions.map((version) => ({ groupVersion: `${name}/${version}`, version }));
  const preferred = entries[0] ?? { groupVersion: '', version: '' };
  return { name, versions: entries, preferredVersion: preferred };
}

/** The APIGroupList of every named group (the core group is served under `/api`). */
export function apiGroupList(registry: ResourceRegistry): JsonObject {
  const groups: JsonObject[] = [];
  for (const [name, versions] of [...registry.groups().entries()].sort(([a], [b]) => a.localeCompare(b))) {
    if (name !== '') groups.push(apiGroup(name, versions));
  }
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

/** The APIGroup document of one group, or undefined when the group is not served. */
export function apiGroupDocument(registry: ResourceRegistry, name: string): JsonObject | undefined {
  const versions = registry.groups().get(name);
  if (versions === undefined || name === '') return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(name, versions) };
}

export function versionInfo(): JsonObject {
  return {
    major: '1',
    minor: '32',
    gitVersion: 'v1.32.0-phantomdb-test',
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2025-01-01T00:00:00Z',
    goVersion: 'go1.23.0',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}
