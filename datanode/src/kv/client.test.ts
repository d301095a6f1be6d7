/**
 * The client library follows the `ph-served-by` header a node adds when it forwarded a request:
 * its next calls go to the node that served (the range's leader), so it pays the forwarding hop
 * once, not on every request. Two real gRPC servers with the KV service over fake backends.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import type { Command } from './command.ts';
import { KvClient } from './client.ts';
import { KvError, NotLeaderError } from './errors.ts';
import { defaultKvLimits } from './limits.ts';
import { RangeCache, decodeSpan, encodeSpan, type Span } from './range-cache.ts';
import { addKvServices, type KvBackend, type ServedReport } from './service.ts';
import type { ApplyResult } from './state-machine.ts';

interface FakeNode {
  readonly address: string;
  /** Requests this node received. */
  readonly received: string[];
  /** The key (a scan's start) of each. */
  readonly keys: string[];
  /** Whether each asked for its range's span. */
  readonly asked: boolean[];
  server: grpc.Server;
}

const servers: grpc.Server[] = [];
const clients: KvClient[] = [];

afterEach(() => {
  for (const client of clients.splice(0)) client.close();
  for (const server of servers.splice(0)) server.forceShutdown();
});

/**
 * A node whose backend serves everything itself, or says it forwarded to `forwardsTo(key)`.
 * Without `spanOf` it is a server from before range spans (it names who served, never a span);
 * with it, it names the span of the key's range as the KV service sends it (asked, or forwarded).
 */
async function startNode(name: string, forwardsTo: (key: Buffer) => string | undefined, spanOf?: (key: Buffer) => Span | undefined, changeReplicas: KvBackend['changeReplicas'] = () => Promise.resolve(true)): Promise<FakeNode> {
  const received: string[] = [];
  const keys: string[] = [];
  const asked: boolean[] = [];
  const serve = (what: string, key: Buffer, report?: ServedReport): void => {
    received.push(what);
    keys.push(key.toString());
    // Before anything was served elsewhere, only the client's ph-range-ask makes a span wanted.
    asked.push(report?.wantsRange === true);
    const other = forwardsTo(key);
    if (other !== undefined) report?.elsewhere(other);
    const span = report?.wantsRange === true ? spanOf?.(key) : undefined;
    if (span !== undefined) report?.range(span.start, span.end);
  };
  const backend: KvBackend = {
    clusterId: 'c',
    limits: defaultKvLimits,
    write: (command: Command, _deadlineMs, _forwarded, report): Promise<ApplyResult> => {
      serve(command.op, 'key' in command ? command.key : Buffer.alloc(0), report);
      if (command.op === 'cas') return Promise.resolve({ op: 'cas', ok: true, current: null });
      if (command.op === 'delete') return Promise.resolve({ op: 'delete', existed: true });
      return Promise.resolve({ op: 'put' });
    },
    get: (key, _deadlineMs, _forwarded, report) => {
      serve('get', key, report);
      return Promise.resolve(Buffer.from(name));
    },
    scan: (start, _end, _rowsMax, _bytesMax, _deadlineMs, _forwarded, report) => {
      serve('scan', start, report);
      return Promise.resolve({ rows: [], more: false });
    },
    recordRanges: () => Promise.resolve(),
    join: () => Promise.resolve(new Map()),
    heartbeat: () => Promise.resolve(),
    changeReplicas,
  };
  const server = new grpc.Server();
  addKvServices(server, backend);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err === null ? resolve(bound) : reject(err))));
  servers.push(server);
  return { address: `127.0.0.1:${port}`, received, keys, asked, server };
}

describe('KvClient and a node that is down', () => {
  it('resends a write that never left (its endpoint refused the connection) to the next endpoint', async () => {
    const gone = await startNode('gone', () => undefined);
    gone.server.forceShutdown();
    const live = await startNode('live', () => undefined);
    const client = new KvClient({ endpoints: [gone.address, live.address], clusterId: 'c', rangeCacheEntries: 0 });
    clients.push(client);
    // Before: PH_OUTCOME_UNKNOWN, although the refused connection carried nothing.
    await client.put('k', 'v');
    expect(live.received).toEqual(['put']);
    expect(gone.received).toEqual([]);
  });
});

describe('KvClient errors after its retries', () => {
  it("reports what the leader answered, not a follower's redirect to it", async () => {
    let leaderAnswers = 0;
    const leader = await startNode('leader', () => undefined, undefined, () => {
      leaderAnswers++;
      return Promise.reject(new KvError('PH_UNAVAILABLE', 'range 2: learner 5 has not caught up'));
    });
    const follower = await startNode('follower', () => undefined, undefined, () => Promise.reject(new NotLeaderError(2, leader.address)));
    const client = new KvClient({ endpoints: [leader.address, follower.address], clusterId: 'c', deadlineMs: 3000, backoffMaxMs: 20, attemptsMax: 8 });
    clients.push(client);
    // Leader, follower (redirect), leader, ...: the last attempt is the follower's redirect.
    const error = await client.changeReplicas(2, 'promote', 5).catch((err: unknown) => err);
    expect(leaderAnswers).toBeGreaterThan(1);
    expect(error).toBeInstanceOf(KvError);
    expect((error as KvError).code).toBe('PH_UNAVAILABLE');
    expect((error as KvError).message).toContain('learner 5 has not caught up');
  });
});

describe('KvClient and the served-by header', () => {
  it('sends its next requests to the node that served a forwarded one', async () => {
    const leader = await startNode('leader', () => undefined);
    const follower = await startNode('follower', () => leader.address);
    const client = new KvClient({ endpoints: [follower.address, leader.address], clusterId: 'c' });
    clients.push(client);
    await client.put('k', 'v');
    expect(follower.received).toEqual(['put']);
    expect(leader.received).toEqual([]);
    for (let i = 0; i < 5; i++) await client.put(`k${i}`, 'v');
    expect((await client.get('k'))?.toString()).toBe('leader');
    expect(follower.received).toEqual(['put']);
    expect(leader.received).toEqual(['put', 'put', 'put', 'put', 'put', 'get']);
  });

  it('ignores a served-by address that is not one of its endpoints (it may not be reachable from the client)', async () => {
    const behindService = await startNode('service', () => '10.0.0.1:26257');
    const other = await startNode('other', () => undefined);
    const client = new KvClient({ endpoints: [behindService.address, other.address], clusterId: 'c' });
    clients.push(client);
    for (let i = 0; i < 3; i++) await client.put(`k${i}`, 'v');
    expect(behindService.received).toEqual(['put', 'put', 'put']);
    expect(other.received).toEqual([]);
  });

  it('follows a served-by address once setEndpoints names it (a node that joined the cluster)', async () => {
    const joined = await startNode('joined', () => undefined);
    const old = await startNode('old', () => joined.address);
    const client = new KvClient({ endpoints: [old.address], clusterId: 'c' });
    clients.push(client);
    await client.put('k0', 'v');
    await client.put('k1', 'v');
    // Not one of the endpoints yet: the old node forwards every request.
    expect(old.received).toEqual(['put', 'put']);
    expect(() => client.setEndpoints([])).toThrow(/at least one endpoint/);
    client.setEndpoints([old.address, joined.address]);
    await client.put('k2', 'v'); // forwarded once more: the answer names the joined node
    for (let i = 3; i < 6; i++) await client.put(`k${i}`, 'v');
    expect(old.received).toEqual(['put', 'put', 'put']);
    expect(joined.received).toEqual(['put', 'put', 'put']);
  });

  it('stays on a node that serves requests itself', async () => {
    const first = await startNode('first', () => undefined);
    const second = await startNode('second', () => undefined);
    const client = new KvClient({ endpoints: [first.address, second.address], clusterId: 'c' });
    clients.push(client);
    await client.scan('a', 'z', 10);
    await client.delete('a');
    expect(first.received).toEqual(['scan', 'delete']);
    expect(second.received).toEqual([]);
  });
});

describe('KvClient range cache', () => {
  /** Two ranges: [-∞, m) led by node A, [m, ∞) led by node B; each forwards the other's keys. */
  let bStopped = false;
  afterEach(() => {
    bStopped = false;
  });

  async function twoRanges(): Promise<{ a: FakeNode; b: FakeNode; client: KvClient }> {
    const left: Span = { start: Buffer.alloc(0), end: Buffer.from('m') };
    const right: Span = { start: Buffer.from('m'), end: Buffer.alloc(0) };
    const spanOf = (key: Buffer): Span => (Buffer.compare(key, Buffer.from('m')) < 0 ? left : right);
    const addresses: { a?: string; b?: string } = {};
    // Once b is stopped, a leads both ranges (serves everything itself).
    const a = await startNode('a', (key) => (spanOf(key) === right && !bStopped ? addresses.b : undefined), spanOf);
    const b = await startNode('b', (key) => (spanOf(key) === left ? addresses.a : undefined), spanOf);
    addresses.a = a.address;
    addresses.b = b.address;
    const client = new KvClient({ endpoints: [a.address, b.address], clusterId: 'c' });
    clients.push(client);
    return { a, b, client };
  }

  it('sends each key straight to the node that served its range, once it learned the span', async () => {
    const { a, b, client } = await twoRanges();
    await client.put('c', 'v'); // served by a (the first endpoint): [-∞, m) → a
    await client.put('x', 'v'); // a forwards to b: [m, ∞) → b
    expect(client.cachedRanges).toBe(2);
    const keys = ['d', 'y', 'e', 'z', 'f', 'n'];
    for (const key of keys) await client.put(key, 'v');
    expect((await client.get('q'))?.toString()).toBe('b');
    expect((await client.get('g'))?.toString()).toBe('a');
    await client.delete('h');
    await client.compareAndSet('w', null, 'v');
    // Only the one request before the span was known went to the wrong node.
    expect(a.keys).toEqual(['c', 'x', 'd', 'e', 'f', 'g', 'h']);
    expect(b.keys).toEqual(['y', 'z', 'n', 'q', 'w']);
  });

  it('asks for the span only while it has no entry (the node answers without one otherwise)', async () => {
    const { a, b, client } = await twoRanges();
    await client.put('c', 'v');
    await client.put('d', 'v');
    await client.put('x', 'v');
    await client.put('y', 'v');
    expect(a.keys).toEqual(['c', 'd', 'x']);
    expect(a.asked).toEqual([true, false, true]);
    expect(b.keys).toEqual(['y']);
    expect(b.asked).toEqual([false]);
  });

  it('drops the entry of a node that stops answering and learns the range again from another node', async () => {
    const { a, b, client } = await twoRanges();
    await client.put('x', 'v'); // forwarded by a: [m, ∞) → b
    await client.get('y');
    expect(b.keys).toEqual(['y']);
    b.server.forceShutdown();
    bStopped = true;
    // b is gone: a read of its range fails there (the entry is dropped) and is retried on a,
    // which now leads the range, asked for the span and names it; the next read goes to a
    // directly, with its entry in the cache (so it does not ask).
    const before = a.keys.length;
    expect((await client.get('z'))?.toString()).toBe('a');
    expect((await client.get('q'))?.toString()).toBe('a');
    expect(a.keys.slice(before)).toEqual(['z', 'q']);
    expect(a.asked.slice(before)).toEqual([true, false]);
  });

  it('drops an entry whose node forwards without naming a span (a server from before spans) and follows its served-by', async () => {
    let upgraded = true;
    const addresses: { b?: string } = {};
    const spanOfAll = (): Span => ({ start: Buffer.alloc(0), end: Buffer.alloc(0) });
    // a names spans until it is "downgraded"; then it forwards everything to b, naming b only.
    const a = await startNode('a', () => (upgraded ? undefined : addresses.b), () => (upgraded ? spanOfAll() : undefined));
    const b = await startNode('b', () => undefined);
    addresses.b = b.address;
    const client = new KvClient({ endpoints: [a.address, b.address], clusterId: 'c' });
    clients.push(client);
    await client.put('c', 'v');
    expect(client.cachedRanges).toBe(1);
    upgraded = false;
    // a now forwards to b and names no span: the client drops a's entry and goes to b (served-by).
    await client.put('d', 'v');
    await client.put('e', 'v');
    await client.put('f', 'v');
    expect(a.keys).toEqual(['c', 'd']);
    expect(b.keys).toEqual(['e', 'f']);
  });

  it('keeps today\'s behaviour with a server that names no spans', async () => {
    const leader = await startNode('leader', () => undefined);
    const follower = await startNode('follower', () => leader.address);
    const client = new KvClient({ endpoints: [follower.address, leader.address], clusterId: 'c' });
    clients.push(client);
    for (let i = 0; i < 3; i++) await client.put(`k${i}`, 'v');
    expect(client.cachedRanges).toBe(0);
    expect(follower.received).toEqual(['put']);
    expect(leader.received).toEqual(['put', 'put']);
  });
});

describe('RangeCache', () => {
  const s = (start: string, end: string): Span => ({ start: Buffer.from(start), end: Buffer.from(end) });
  const at = (cache: RangeCache, key: string): string | undefined => cache.lookup(Buffer.from(key));

  it('finds the span holding a key, with an empty end as the end of the keyspace', () => {
    const cache = new RangeCache();
    cache.insert(s('', 'g'), 'n1');
    cache.insert(s('p', ''), 'n3');
    cache.insert(s('g', 'p'), 'n2');
    expect(['', 'a', 'f', 'g', 'o', 'p', 'zzz'].map((key) => at(cache, key))).toEqual(['n1', 'n1', 'n1', 'n2', 'n2', 'n3', 'n3']);
  });

  it('replaces every entry a new span overlaps (a split or a merge seen later)', () => {
    const cache = new RangeCache();
    cache.insert(s('a', 'c'), 'n1');
    cache.insert(s('c', 'f'), 'n2');
    cache.insert(s('f', 'k'), 'n3');
    cache.insert(s('b', 'g'), 'n4');
    expect(cache.size).toBe(1);
    expect(['a', 'b', 'f', 'g', 'j'].map((key) => at(cache, key))).toEqual([undefined, 'n4', 'n4', undefined, undefined]);
    cache.insert(s('d', 'e'), 'n5');
    expect(cache.size).toBe(1);
    expect(at(cache, 'b')).toBeUndefined();
    expect(at(cache, 'd')).toBe('n5');
    cache.insert(s('x', ''), 'n6');
    cache.insert(s('a', ''), 'n7');
    expect(cache.size).toBe(1);
    expect(at(cache, 'z')).toBe('n7');
  });

  it('evicts the entry of a key, only if it still names the address, or every entry of an address', () => {
    const cache = new RangeCache();
    cache.insert(s('a', 'c'), 'n1');
    cache.insert(s('c', 'f'), 'n2');
    cache.insert(s('f', 'k'), 'n1');
    cache.evictIf(Buffer.from('d'), 'n1');
    expect(at(cache, 'd')).toBe('n2');
    cache.evictIf(Buffer.from('d'), 'n2');
    expect(at(cache, 'd')).toBeUndefined();
    cache.evictAddress('n1');
    expect(cache.size).toBe(0);
    cache.insert(s('a', 'c'), 'n1');
    cache.evict(Buffer.from('b'));
    expect(cache.size).toBe(0);
  });

  it('stays within its bound, dropping the least recently used entries first', () => {
    const cache = new RangeCache(16);
    const key = (i: number): string => `k${String(i).padStart(3, '0')}`;
    for (let i = 0; i < 16; i++) cache.insert(s(key(i), `${key(i)}~`), `n${i}`);
    // Used recently: entries 0..3 survive the eviction the next inserts cause.
    for (let i = 0; i < 4; i++) expect(at(cache, key(i))).toBe(`n${i}`);
    for (let i = 16; i < 40; i++) {
      cache.insert(s(key(i), `${key(i)}~`), `n${i}`);
      expect(cache.size).toBeLessThanOrEqual(16);
    }
    expect(at(cache, key(39))).toBe('n39');
    expect(at(cache, key(4))).toBeUndefined();
  });

  it('encodes a span for the header and refuses malformed or oversized ones', () => {
    const encoded = encodeSpan(Buffer.from('abc'), Buffer.from('xyz'));
    expect(encoded).toBeDefined();
    expect(decodeSpan(encoded ?? Buffer.alloc(0))).toEqual(s('abc', 'xyz'));
    expect(decodeSpan(encodeSpan(Buffer.from('q'), Buffer.alloc(0)) ?? Buffer.alloc(0))).toEqual(s('q', ''));
    expect(encodeSpan(Buffer.alloc(600), Buffer.alloc(600))).toBeUndefined();
    expect(decodeSpan(Buffer.from([0]))).toBeUndefined();
    expect(decodeSpan(Buffer.from([0, 9, 1]))).toBeUndefined();
    // start ≥ end is not a span
    expect(decodeSpan(encodeSpan(Buffer.from('z'), Buffer.from('a')) ?? Buffer.alloc(0))).toBeUndefined();
  });
});
