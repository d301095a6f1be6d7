/**
 * An optional name-resolution override for running data nodes outside Kubernetes (the project's
 * Kubernetes API test server runs every "pod" as a process on one machine, where the pods' DNS
 * names do not exist in the system resolver).
 *
 * Load it before the program, e.g. `node --import tsx --import ./datanode/src/node/hosts-override.ts
 * datanode/src/main.ts start ...`. When the environment variable PHANTOMDB_HOSTS_FILE names a file
 * in /etc/hosts format (`address name [alias ...]`, `#` comments), `dns.lookup` and
 * `dns.promises.lookup` (which `net`, `http` and `@grpc/grpc-js` use) answer the names listed in
 * that file from it, and every other name from the system resolver. The file is re-read when its
 * modification time changes, so whoever keeps it (the test kubelet) can update it while the node
 * runs. Without PHANTOMDB_HOSTS_FILE this module does nothing. Production nodes never load it.
 */
import dns from 'node:dns';
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';

export interface HostAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/** Parses /etc/hosts-format text into lower-case name → addresses (in file order). */
export function parseHostsFile(text: string): Map<string, HostAddress[]> {
  const table = new Map<string, HostAddress[]>();
  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/#.*$/, '').trim();
    if (line === '') continue;
    const [address = '', ...names] = line.split(/\s+/);
    const family = isIP(address);
    if (family !== 4 && family !== 6) continue;
    for (const name of names) {
      const key = name.toLowerCase();
      const list = table.get(key) ?? [];
      if (!list.some((entry) => entry.address === address)) list.push({ address, family });
      table.set(key, list);
    }
  }
  return table;
}

interface LookupOptionsLike {
  readonly family?: number | string;
  readonly all?: boolean;
}

function wantedFamily(options: unknown): 0 | 4 | 6 {
  if (typeof options === 'number') return options === 4 || options === 6 ? options : 0;
  if (typeof options !== 'object' || options === null) return 0;
  const family = (options as LookupOptionsLike).family;
  if (family === 4 || family === 'IPv4') return 4;
  if (family === 6 || family === 'IPv6') return 6;
  return 0;
}

function wantsAll(options: unknown): boolean {
  return typeof options === 'object' && options !== null && (options as LookupOptionsLike).all === true;
}

/** Installs the override for `file`; returns a function that answers a name from the file (or undefined). */
export function installHostsOverride(file: string): (name: string, family: 0 | 4 | 6) => HostAddress[] | undefined {
  let cachedMtimeMs = -1;
  let table = new Map<string, HostAddress[]>();
  const answer = (name: string, family: 0 | 4 | 6): HostAddress[] | undefined => {
    try {
      const mtimeMs = statSync(file).mtimeMs;
      if (mtimeMs !== cachedMtimeMs) {
        table = parseHostsFile(readFileSync(file, 'utf8'));
        cachedMtimeMs = mtimeMs;
      }
    } catch {
      // A missing or unreadable file means "no overrides right now", never a failed lookup.
      table = new Map();
      cachedMtimeMs = -1;
    }
    const found = table.get(name.toLowerCase().replace(/\.$/, ''));
    if (found === undefined) return undefined;
    return family === 0 ? found : found.filter((entry) => entry.family === family);
  };
  const notFound = (name: string): NodeJS.ErrnoException => Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND', errno: -3008, syscall: 'getaddrinfo', hostname: name });

  const originalLookup = dns.lookup;
  const lookup = (hostname: string, ...rest: unknown[]): void => {
    const callback = rest[rest.length - 1];
    const options = rest.length > 1 ? rest[0] : undefined;
    const found = typeof hostname === 'string' ? answer(hostname, wantedFamily(options)) : undefined;
    if (found === undefined || typeof callback !== 'function') {
      (originalLookup as (...args: unknown[]) => void)(hostname, ...rest);
      return;
    }
    const reply = callback as (error: Error | null, address?: unknown, family?: number) => void;
    const first = found[0];
    if (wantsAll(options)) process.nextTick(() => reply(null, found.map((entry) => ({ address: entry.address, family: entry.family }))));
    else if (first === undefined) process.nextTick(() => reply(notFound(hostname)));
    else process.nextTick(() => reply(null, first.address, first.family));
  };
  dns.lookup = lookup as typeof dns.lookup;

  const originalPromisesLookup = dns.promises.lookup;
  const promisesLookup = async (hostname: string, options?: unknown): Promise<unknown> => {
    const found = answer(hostname, wantedFamily(options));
    if (found === undefined) return (originalPromisesLookup as (...args: unknown[]) => Promise<unknown>)(hostname, options);
    if (wantsAll(options)) return found.map((entry) => ({ address: entry.address, family: entry.family }));
    const first = found[0];
    if (first === undefined) throw notFound(hostname);
    return { address: first.address, family: first.family };
  };
  dns.promises.lookup = promisesLookup as typeof dns.promises.lookup;
  return answer;
}

const hostsFile = process.env.PHANTOMDB_HOSTS_FILE;
if (hostsFile !== undefined && hostsFile !== '') installHostsOverride(hostsFile);
