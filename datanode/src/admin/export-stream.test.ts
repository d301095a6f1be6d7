/**
 * The ExportRange server stream over real loopback gRPC with a stand-in backend (the export
 * itself is tested in test/cluster/backup.test.ts): chunks arrive in order with their file
 * descriptions, and a failure before or during the stream reaches the caller as the admin
 * API's code (with the leader hint for PH_NOT_LEADER), not as an internal error.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import type { ExportRangeChunk__Output } from '../../proto/generated/phantomdb/admin/v1/ExportRangeChunk.ts';
import { readAttemptFailure } from '../rpc/client-core.ts';
import type { AdminBackend, ExportChunk, ExportRangeSpec } from './backend.ts';
import { AdminError, NotLeaderError } from './errors.ts';
import { adminMetadataKeys, adminProto } from './proto.ts';
import { addAdminService } from './service.ts';

const servers: grpc.Server[] = [];
const stubs: grpc.Client[] = [];
afterEach(() => {
  for (const stub of stubs.splice(0)) stub.close();
  for (const server of servers.splice(0)) server.forceShutdown();
});

const chunk = (fileIndex: number, data: string, end?: { entries: number; fileBytes: number }): ExportChunk => ({
  fileIndex,
  data: Buffer.from(data),
  fileEnd: end !== undefined,
  entries: end?.entries ?? 0,
  fileBytes: end?.fileBytes ?? 0,
  smallestKey: Buffer.from(end === undefined ? '' : 'a'),
  largestKey: Buffer.from(end === undefined ? '' : 'z'),
});

async function serve(exportRange: (spec: ExportRangeSpec) => AsyncIterable<ExportChunk>): Promise<InstanceType<ReturnType<typeof adminProto>['Admin']>> {
  const unused = (): never => {
    throw new AdminError('PH_BAD_REQUEST', 'not used here');
  };
  const backend: AdminBackend = {
    clusterId: 'c1',
    nodeInfo: unused,
    assignIdentity: unused,
    clusterStatus: unused,
    addLearner: unused,
    promote: unused,
    decommission: unused,
    recommission: unused,
    drain: unused,
    transferLeadership: unused,
    rangeList: unused,
    exportRange: (spec) => exportRange(spec),
  };
  const server = new grpc.Server();
  servers.push(server);
  addAdminService(server, backend);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err === null ? resolve(bound) : reject(err))));
  const stub = new (adminProto().Admin)(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  stubs.push(stub);
  return stub;
}

async function collect(stub: Awaited<ReturnType<typeof serve>>, request: Record<string, unknown>): Promise<{ chunks: ExportRangeChunk__Output[]; error?: unknown }> {
  const chunks: ExportRangeChunk__Output[] = [];
  try {
    for await (const message of stub.ExportRange(request) as AsyncIterable<ExportRangeChunk__Output>) chunks.push(message);
    return { chunks };
  } catch (error) {
    return { chunks, error };
  }
}

const request = { rangeId: '7', startKey: Buffer.from('a'), endKey: Buffer.alloc(0), at: String(5n << 16n), since: '0' };

describe('ExportRange stream', () => {
  it('streams the chunks of every file in order, with the request decoded', async () => {
    let seen: ExportRangeSpec | undefined;
    const stub = await serve(async function* (spec) {
      seen = spec;
      yield chunk(0, 'hello ');
      yield chunk(0, 'world', { entries: 2, fileBytes: 11 });
      yield chunk(1, 'x', { entries: 1, fileBytes: 1 });
    });
    const { chunks, error } = await collect(stub, request);
    expect(error).toBeUndefined();
    expect(seen).toEqual({ rangeId: 7, startKey: Buffer.from('a'), endKey: Buffer.alloc(0), at: 5n << 16n, since: undefined });
    expect(chunks.map((c) => [c.fileIndex, c.data.toString(), c.fileEnd, c.entries, c.fileBytes])).toEqual([
      [0, 'hello ', false, '0', '0'],
      [0, 'world', true, '2', '11'],
      [1, 'x', true, '1', '1'],
    ]);
  });

  it('answers PH_NOT_LEADER with the leader hint when the node does not lead the range', async () => {
    // eslint-disable-next-line require-yield
    const stub = await serve(async function* () {
      throw new NotLeaderError(3, '10.0.0.3:7010');
    });
    const { chunks, error } = await collect(stub, request);
    expect(chunks).toEqual([]);
    const failure = readAttemptFailure(error, adminMetadataKeys);
    expect(failure.phantomCode).toBe('PH_NOT_LEADER');
    expect(failure.leaderId).toBe(3);
    expect(failure.leaderAddress).toBe('10.0.0.3:7010');
  });

  it('ends a stream that fails midway with the failure code, after the chunks sent so far', async () => {
    const stub = await serve(async function* () {
      yield chunk(0, 'part');
      throw new AdminError('PH_UNAVAILABLE', 'the range split meanwhile');
    });
    const { chunks, error } = await collect(stub, request);
    expect(chunks.map((c) => c.data.toString())).toEqual(['part']);
    expect(readAttemptFailure(error, adminMetadataKeys)).toMatchObject({ phantomCode: 'PH_UNAVAILABLE', details: expect.stringContaining('the range split meanwhile') as unknown });
  });

  it('refuses a request without a timestamp, or with since not below at', async () => {
    const stub = await serve(async function* () {
      yield chunk(0, 'never', { entries: 1, fileBytes: 5 });
    });
    for (const bad of [{ ...request, at: '0' }, { ...request, since: request.at }]) {
      const { chunks, error } = await collect(stub, bad);
      expect(chunks).toEqual([]);
      expect(readAttemptFailure(error, adminMetadataKeys).phantomCode).toBe('PH_BAD_REQUEST');
    }
  });
});
