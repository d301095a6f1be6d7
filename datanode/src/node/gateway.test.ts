/**
 * The gateway's routing with fakes for the store, the replicas and the other nodes: it follows
 * NotLeader answers, looks the key up again after RangeMismatch, never resends a write of
 * unknown fate, refuses to forward a forwarded request, and stitches scans across ranges in
 * key order under the row limit.
 */
import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { KVClient } from '../../proto/generated/phantomdb/kv/v1/KV.ts';
import { containsKey, containsSpan, lookupDescriptor, type RangeDescriptor } from '../kv/descriptor.ts';
import { KvError, NotLeaderError } from '../kv/errors.ts';
import { kvProto } from '../kv/proto.ts';
import { decodeSpan, encodeSpan, rangeAskMetadataKey, rangeMetadataKey, type Span } from '../kv/range-cache.ts';
import type { ServedReport } from '../kv/service.ts';
import { rangeMismatch } from '../kv/state-machine.ts';
import { Gateway } from './gateway.ts';
import type { Replica } from './replica.ts';
import type { Store } from './store.ts';

const me = 1;
const replicas = [1, 2, 3].map((nodeId) => ({ nodeId, voter: true }));
const b = (s: string): Buffer => Buffer.from(s);
const range = (rangeId: number, start: string, end: string, generation = 1): RangeDescriptor => ({ rangeId, startKey: b(start), endKey: b(end), generation, replicas });

/** A replica on this node that leads its range and holds `data`. */
function leaderReplica(desc: RangeDescriptor, data: Map<string, string>): Replica {
  const rows = () =>
    [...data.entries()]
      .filter(([k]) => containsKey(desc, b(k)))
      .sort(([x], [y]) => Buffer.compare(b(x), b(y)))
      .map(([k, v]) => ({ key: b(k), value: b(v) }));
  const sm = {
    descriptor: () => desc,
    get: (key: Buffer) => {
      if (!containsKey(desc, key)) throw rangeMismatch(desc.rangeId, desc);
      const value = data.get(key.toString());
      return value === undefined ? undefined : b(value);
    },
    scan: (start: Buffer, end: Buffer, rowsMax: number) => {
      if (!containsSpan(desc, start, end)) throw rangeMismatch(desc.rangeId, desc);
      const inSpan = rows().filter((r) => Buffer.compare(r.key, start) >= 0 && (end.byteLength === 0 || Buffer.compare(r.key, end) < 0));
      return { rows: inSpan.slice(0, rowsMax), more: inSpan.length > rowsMax };
    },
  };
  const fake = {
    groupId: desc.rangeId,
    stateMachine: sm,
    serving: true,
    role: () => ({ role: 'leader', leaderId: me }),
    linearizableBarrier: () => Promise.resolve(),
    propose: (command: { key: Buffer; value: Buffer }) => {
      if (!containsKey(desc, command.key)) return Promise.resolve({ op: 'range-mismatch', descriptor: desc });
      data.set(command.key.toString(), command.value.toString());
      return Promise.resolve({ op: 'put' });
    },
    notLeader: () => new NotLeaderError(0, ''),
  };
  return fake as unknown as Replica;
}

/**
 * A fake store; `down` holds the peers whose connection failed (peerUnreachable adds to it), and
 * `campaign` is what campaignIfLeaderDown does with a replica whose leader is down.
 */
function fakeStore(descriptors: () => RangeDescriptor[], local: Map<number, Replica>, down = new Set<number>(), campaign: (replica: Replica) => void = () => undefined): Store {
  return {
    lookup: (key: Uint8Array) => lookupDescriptor(descriptors(), key),
    replica: (id: number) => local.get(id),
    peerDown: (id: number) => down.has(id),
    peerUnreachable: (id: number) => down.add(id),
    campaignIfLeaderDown: (replica: Replica) => {
      const { role, leaderId } = replica.role();
      if (role === 'leader' || !down.has(leaderId)) return false;
      campaign(replica);
      return true;
    },
  } as unknown as Store;
}

function phantomError(code: string, leaderId = 0): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  metadata.set('ph-error-code', code);
  if (leaderId > 0) {
    metadata.set('ph-leader-id', String(leaderId));
    metadata.set('ph-leader-address', `node-${leaderId}`);
  }
  return Object.assign(new Error(code), { code: grpc.status.UNAVAILABLE, details: code, metadata });
}

type Answer = (method: string, request: Record<string, unknown>, metadata: grpc.Metadata) => { err: grpc.ServiceError | null; value?: unknown; headers?: grpc.Metadata };

/** Fake KV clients: every call is recorded as "<node>:<method>" and answered by `answer(node, ...)` (response headers first, as grpc-js does). */
function fakeNodes(answer: (node: string) => Answer, calls: string[]): (address: string) => KVClient {
  return (address) => {
    const handler = (method: string) => (request: Record<string, unknown>, metadata: grpc.Metadata, _options: unknown, done: (err: grpc.ServiceError | null, value?: unknown) => void) => {
      calls.push(`${address}:${method}`);
      expect(metadata.get('ph-forwarded')[0]).toBe('1');
      const { err, value, headers } = answer(address)(method, request, metadata);
      const call = new EventEmitter();
      setImmediate(() => {
        if (headers !== undefined) call.emit('metadata', headers);
        done(err, value);
      });
      return call;
    };
    return { Put: handler('Put'), Get: handler('Get'), Delete: handler('Delete'), Scan: handler('Scan'), CompareAndSet: handler('CompareAndSet'), close: () => undefined } as unknown as KVClient;
  };
}

/** What a gateway told the client: who served, and the range span (sent only when asked or served elsewhere, as the KV service does). */
class Report implements ServedReport {
  readonly servedBy: string[] = [];
  readonly spans: Span[] = [];
  constructor(private readonly asked = false) {}
  get wantsRange(): boolean {
    return this.spans.length === 0 && (this.asked || this.servedBy.length > 0);
  }
  elsewhere(kvAddress: string): void {
    this.servedBy.push(kvAddress);
  }
  range(start: Uint8Array, end: Uint8Array): void {
    this.spans.push({ start: Buffer.from(start), end: Buffer.from(end) });
  }
}

const spanText = (span: Span | undefined): string => (span === undefined ? 'none' : `[${span.start.toString()}, ${span.end.toString()})`);

function gateway(store: Store, connect: (address: string) => KVClient): Gateway {
  return new Gateway({ nodeId: me, clusterId: 'c', store: () => store, kvAddressOf: (id) => `node-${id}`, connect });
}

describe('gateway routing', () => {
  it('forwards to a replica, follows its NotLeader answer to the leader, and serves from there', async () => {
    const calls: string[] = [];
    const store = fakeStore(() => [range(2, '', '')], new Map());
    const gw = gateway(
      store,
      fakeNodes((node) => () => (node === 'node-3' ? { err: null, value: { found: true, value: b('v') } } : { err: phantomError('PH_NOT_LEADER', 3) }), calls),
    );
    const report = new Report();
    expect((await gw.get(b('k'), 2000, false, report))?.toString()).toBe('v');
    expect(calls).toEqual(['node-2:Get', 'node-3:Get']);
    // The client is told who served (the ph-served-by header), so it can go there itself.
    expect(report.servedBy).toEqual(['node-3']);
    // The leader it learned is asked first next time.
    await gw.get(b('k'), 2000, false);
    expect(calls.at(-1)).toBe('node-3:Get');
  });

  it('looks the key up again after RangeMismatch and goes to the range that now holds it', async () => {
    const calls: string[] = [];
    let split = false;
    const data = new Map<string, string>();
    const right = range(9, 'm', '', 2);
    // Range 9 (after the split) is led here; the stale descriptor sends the write to node 2.
    const local = new Map<number, Replica>();
    const store = fakeStore(() => (split ? [range(2, '', 'm', 2), right] : [range(2, '', '')]), local);
    const gw = gateway(
      store,
      fakeNodes(
        () => () => {
          split = true;
          local.set(9, leaderReplica(right, data));
          return { err: phantomError('PH_RANGE_MISMATCH') };
        },
        calls,
      ),
    );
    local.set(2, { ...leaderReplica(range(2, '', ''), data), role: () => ({ role: 'follower', leaderId: 2 }) } as unknown as Replica);
    const report = new Report();
    await gw.write({ op: 'put', key: b('q'), value: b('1') }, 2000, false, report);
    expect(calls).toEqual(['node-2:Put']);
    expect(data.get('q')).toBe('1');
    // Served here in the end: nothing to tell the client (it did not ask for the range).
    expect(report.servedBy).toEqual([]);
    expect(report.spans).toEqual([]);
    // Asked, it names the span of the range that served (its replica's descriptor).
    const asked = new Report(true);
    await gw.write({ op: 'put', key: b('r'), value: b('2') }, 2000, false, asked);
    expect(asked.spans.map(spanText)).toEqual(['[m, )']);
  });

  it('fails a forwarded write of unknown fate with PH_OUTCOME_UNKNOWN and does not resend it', async () => {
    const calls: string[] = [];
    const store = fakeStore(() => [range(2, '', '')], new Map());
    const broken = Object.assign(new Error('connection reset'), { code: grpc.status.UNAVAILABLE, details: 'connection reset', metadata: new grpc.Metadata() });
    const gw = gateway(store, fakeNodes(() => () => ({ err: broken }), calls));
    await expect(gw.write({ op: 'put', key: b('k'), value: b('v') }, 2000, false)).rejects.toMatchObject({ code: 'PH_OUTCOME_UNKNOWN' });
    expect(calls).toHaveLength(1);
    // A read of the same kind is retried (it changes nothing).
    await expect(gw.get(b('k'), 300, false)).rejects.toBeInstanceOf(KvError);
    expect(calls.length).toBeGreaterThan(2);
  });

  it('does not forward to a leader whose connection failed: the local follower campaigns and serves once elected', async () => {
    const calls: string[] = [];
    const data = new Map<string, string>();
    let role = { role: 'follower', leaderId: 2 };
    const follower = { ...leaderReplica(range(2, '', ''), data), role: () => role } as unknown as Replica;
    let campaigns = 0;
    const store = fakeStore(() => [range(2, '', '')], new Map([[2, follower]]), new Set([2]), () => {
      campaigns++;
      role = { role: 'pre-candidate', leaderId: 0 };
      // The election ends a little later.
      setTimeout(() => (role = { role: 'leader', leaderId: me }), 5);
    });
    const gw = gateway(store, fakeNodes(() => () => ({ err: null, value: {} }), calls));
    await gw.write({ op: 'put', key: b('k'), value: b('v') }, 2000, false);
    expect(data.get('k')).toBe('v');
    expect(campaigns).toBe(1);
    expect(calls).toEqual([]);
  });

  it('after a forward cannot connect, counts the node down and tries the other replicas', async () => {
    const calls: string[] = [];
    const down = new Set<number>();
    const refused = Object.assign(new Error('refused'), { code: grpc.status.UNAVAILABLE, details: 'No connection established', metadata: new grpc.Metadata() });
    const store = fakeStore(() => [range(2, '', '')], new Map(), down);
    const gw = gateway(store, fakeNodes((node) => () => (node === 'node-2' ? { err: refused } : { err: null, value: { found: true, value: b('v') } }), calls));
    expect((await gw.get(b('k'), 2000, false))?.toString()).toBe('v');
    expect([...down]).toEqual([2]);
    expect(calls).toEqual(['node-2:Get', 'node-3:Get']);
    await gw.get(b('k'), 2000, false);
    expect(calls.at(-1)).toBe('node-3:Get');
  });

  it('a forwarded request at a follower whose leader is down names no leader', async () => {
    const follower = { ...leaderReplica(range(2, '', ''), new Map()), role: () => ({ role: 'follower', leaderId: 3 }), notLeader: () => new NotLeaderError(3, 'node-3') } as unknown as Replica;
    let campaigns = 0;
    const gw = gateway(fakeStore(() => [range(2, '', '')], new Map([[2, follower]]), new Set([3]), () => campaigns++), fakeNodes(() => () => ({ err: null, value: {} }), []));
    await expect(gw.get(b('k'), 1000, true)).rejects.toMatchObject({ code: 'PH_NOT_LEADER', leaderId: 0 });
    expect(campaigns).toBe(1);
  });

  it('serves a forwarded request only from its own leader replica, never forwarding it again', async () => {
    const calls: string[] = [];
    const follower = { ...leaderReplica(range(2, '', ''), new Map()), role: () => ({ role: 'follower', leaderId: 3 }), notLeader: () => new NotLeaderError(3, 'node-3') } as unknown as Replica;
    const gw = gateway(fakeStore(() => [range(2, '', '')], new Map([[2, follower]])), fakeNodes(() => () => ({ err: null, value: {} }), calls));
    await expect(gw.get(b('k'), 1000, true)).rejects.toMatchObject({ code: 'PH_NOT_LEADER', leaderId: 3 });
    const empty = gateway(fakeStore(() => [range(2, '', '')], new Map()), fakeNodes(() => () => ({ err: null, value: {} }), calls));
    await expect(empty.get(b('k'), 1000, true)).rejects.toMatchObject({ code: 'PH_RANGE_MISMATCH' });
    expect(calls).toEqual([]);
  });

  it('stitches a scan across ranges in key order (local and forwarded pieces) under the row limit', async () => {
    const calls: string[] = [];
    const data = new Map(['a', 'c', 'h', 'j', 'q', 'x'].map((k) => [k, `v-${k}`]));
    const first = range(2, '', 'g');
    const middle = range(7, 'g', 'p');
    const last = range(9, 'p', '');
    const local = new Map([
      [2, leaderReplica(first, data)],
      [9, leaderReplica(last, data)],
    ]);
    const remoteMiddle = leaderReplica(middle, data);
    const gw = gateway(
      fakeStore(() => [first, middle, last], local),
      fakeNodes(
        () => (method, request) => {
          expect(method).toBe('Scan');
          const result = remoteMiddle.stateMachine.scan(request.start as Buffer, request.end as Buffer, request.limit as number, 1 << 20);
          return { err: null, value: result };
        },
        calls,
      ),
    );
    const all = await gw.scan(b(''), b(''), 100, 1 << 20, 2000, false);
    expect(all.rows.map((r) => r.key.toString())).toEqual(['a', 'c', 'h', 'j', 'q', 'x']);
    expect(all.more).toBe(false);
    const limited = await gw.scan(b('b'), b(''), 3, 1 << 20, 2000, false);
    expect(limited.rows.map((r) => r.key.toString())).toEqual(['c', 'h', 'j']);
    expect(limited.more).toBe(true);
    const bounded = await gw.scan(b('b'), b('k'), 3, 1 << 20, 2000, false);
    expect(bounded.rows.map((r) => r.key.toString())).toEqual(['c', 'h', 'j']);
    expect(bounded.more).toBe(false);
    expect(calls.every((c) => c === 'node-2:Scan' || c === 'node-3:Scan')).toBe(true);
  });

  it('relays the span the leader names for a forwarded point request (asking it), and names none for a scan', async () => {
    const calls: string[] = [];
    const asks: string[] = [];
    const store = fakeStore(() => [range(2, '', 'm'), range(3, 'm', '')], new Map());
    const gw = gateway(
      store,
      fakeNodes(
        () => (method, _request, metadata) => {
          asks.push(`${method}:${String(metadata.get(rangeAskMetadataKey)[0] ?? '-')}`);
          const headers = new grpc.Metadata();
          headers.set(rangeMetadataKey, encodeSpan(b('m'), b('t')) ?? Buffer.alloc(0));
          return { err: null, value: method === 'Scan' ? { rows: [], more: false } : { found: true, value: b('v') }, headers };
        },
        calls,
      ),
    );
    const report = new Report();
    await gw.get(b('q'), 2000, false, report);
    // The leader's own descriptor (newer than this node's [m, ∞)) reaches the client.
    expect(report.spans.map(spanText)).toEqual(['[m, t)']);
    expect(report.servedBy).toHaveLength(1);
    const scanReport = new Report(true);
    await gw.scan(b('n'), b('p'), 10, 1 << 20, 2000, false, scanReport);
    expect(scanReport.spans).toEqual([]);
    expect(asks).toEqual(['Get:1', 'Scan:-']);
    expect(decodeSpan(encodeSpan(b('m'), b('t')) ?? Buffer.alloc(0))).toEqual({ start: b('m'), end: b('t') });
  });
});

/**
 * A real gRPC server standing for another node's KV API: every call is left to `respond` (an
 * answer, a bare gRPC status, or the process dying under the call).
 */
async function startRealNode(respond: (done: grpc.sendUnaryData<unknown>, server: grpc.Server) => void): Promise<{ address: string; server: grpc.Server }> {
  const server = new grpc.Server();
  const handle = (_call: unknown, done: grpc.sendUnaryData<unknown>): void => respond(done, server);
  server.addService(kvProto().KV.service, { Get: handle, Put: handle, Delete: handle, Scan: handle, CompareAndSet: handle });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err === null ? resolve(bound) : reject(err))));
  return { address: `127.0.0.1:${port}`, server };
}

describe('gateway: which forwarding failures count a node down (real gRPC)', () => {
  const servers: grpc.Server[] = [];
  const gateways: Gateway[] = [];
  afterEach(() => {
    for (const gw of gateways.splice(0)) gw.close();
    for (const server of servers.splice(0)) server.forceShutdown();
  });

  /** A gateway on node 1 whose range 2 has replicas on nodes 2 and 3 at `addresses`, and the set its store counts down. */
  function realGateway(addresses: Map<number, string>): { gw: Gateway; down: Set<number> } {
    const down = new Set<number>();
    const gw = new Gateway({ nodeId: me, clusterId: 'c', store: () => fakeStore(() => [range(2, '', '')], new Map(), down), kvAddressOf: (id) => addresses.get(id) ?? '' });
    gateways.push(gw);
    return { gw, down };
  }

  it("a node's own UNAVAILABLE answers (a bare status, a refused stream) do not count it down; its reads are retried", async () => {
    let gets = 0;
    const busy = await startRealNode((done) => {
      gets++;
      // What a node (or a proxy in front of it) that is up but cannot take the call now says.
      done({ code: grpc.status.UNAVAILABLE, details: gets % 2 === 0 ? 'Stream refused by server' : 'overloaded, try again' });
    });
    servers.push(busy.server);
    const other = await startRealNode((done) => done(null, { found: true, value: b('v') }));
    servers.push(other.server);
    const { gw, down } = realGateway(new Map([[2, busy.address], [3, other.address]]));
    // The busy node is asked first (node 2 comes first among the replicas), then the other one.
    expect((await gw.get(b('k'), 5000, false))?.toString()).toBe('v');
    expect(gets).toBeGreaterThan(0);
    expect([...down]).toEqual([]);
    // A write that got such an answer is of unknown fate (no code says it did not apply), but the node is still up.
    await expect(gw.write({ op: 'put', key: b('k'), value: b('v') }, 2000, false)).rejects.toMatchObject({ code: 'PH_OUTCOME_UNKNOWN' });
    expect([...down]).toEqual([]);
  });

  it('a node that refuses the connection, or whose connection drops under a call, counts down', async () => {
    const gone = await startRealNode(() => undefined);
    gone.server.forceShutdown();
    const { gw: first, down: firstDown } = realGateway(new Map([[2, gone.address], [3, '']]));
    await expect(first.get(b('k'), 1500, false)).rejects.toBeInstanceOf(KvError);
    expect([...firstDown]).toEqual([2]);

    // The process dies while the call is on its connection: its sockets close (a TCP relay in
    // front of the server stands for the process, and closes every connection it carries).
    const sockets = new Set<net.Socket>();
    const dying = await startRealNode(() => {
      for (const socket of sockets) socket.destroy();
    });
    servers.push(dying.server);
    const relay = net.createServer((inbound) => {
      const outbound = net.connect(Number(dying.address.split(':')[1]), '127.0.0.1');
      for (const socket of [inbound, outbound]) {
        sockets.add(socket);
        socket.on('error', () => undefined);
      }
      inbound.pipe(outbound).pipe(inbound);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const relayAddress = relay.address() as net.AddressInfo;
    try {
      const { gw: second, down: secondDown } = realGateway(new Map([[2, `127.0.0.1:${relayAddress.port}`], [3, '']]));
      const failed = await second.write({ op: 'put', key: b('k'), value: b('v') }, 2000, false).catch((err: unknown) => err);
      // A write the node may have applied before it died: its fate is unknown.
      expect(failed, String(failed)).toMatchObject({ code: 'PH_OUTCOME_UNKNOWN' });
      expect([...secondDown]).toEqual([2]);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => relay.close(resolve));
    }
  });
});
