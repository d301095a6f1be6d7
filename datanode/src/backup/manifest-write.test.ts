/**
 * The manifest of a backup is written once: a second run of the same backup (another
 * coordinator) finds it there and learns it lost, on a volume (atomic link), on an S3 store that
 * honours If-None-Match: * (a minimal S3 endpoint here that does, as AWS S3 and MinIO do), and on
 * s3rver, which ignores the condition: a writer that replaced the manifest after ours is found
 * by reading it back.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalS3, startLocalS3 } from '../../../test/s3/local-s3.ts';
import { type BackupManifest, encodeManifest, manifestKey } from './manifest.ts';
import { writeManifestOnce } from './manifest-write.ts';
import { readManifest } from './reader.ts';
import { type BackupStore, S3BackupStore, VolumeBackupStore } from './store.ts';

function manifestOf(backupId: string, run: string): BackupManifest {
  return {
    formatVersion: 1,
    clusterId: 'c1',
    backupId,
    type: 'full',
    backupTimestamp: '1700000000000.0',
    dataNodeVersion: '1.0.0',
    createdAt: new Date(0).toISOString(),
    ranges: [{ rangeId: 2, startKey: '', endKey: '', files: [{ objectKey: `${backupId}/ranges/2/${run}-p0-a0-000000.sst`, sizeBytes: 3, sha256: 'a'.repeat(64), entries: 1, smallestKey: '61', largestKey: '61' }] }],
    totalBytes: 3,
  };
}

async function body(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The S3 calls a store makes for a manifest (HEAD, GET, PUT), with If-None-Match: * on PUT honoured as AWS S3 does. */
function conditionalS3(): { server: Server; puts: { key: string; ifNoneMatch: string | undefined; status: number }[] } {
  const objects = new Map<string, Buffer>();
  const puts: { key: string; ifNoneMatch: string | undefined; status: number }[] = [];
  const error = (code: string, status: number): { status: number; xml: string } => ({ status, xml: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>` });
  const server = createServer((request, response) => {
    void (async () => {
      const key = (request.url ?? '').split('?')[0] ?? '';
      const data = await body(request);
      const stored = objects.get(key);
      if (request.method === 'PUT') {
        const ifNoneMatch = request.headers['if-none-match'];
        if (ifNoneMatch === '*' && stored !== undefined) {
          const { status, xml } = error('PreconditionFailed', 412);
          puts.push({ key, ifNoneMatch, status });
          response.writeHead(status, { 'content-type': 'application/xml' }).end(xml);
          return;
        }
        objects.set(key, data);
        puts.push({ key, ifNoneMatch, status: 200 });
        response.writeHead(200, { etag: '"e"' }).end();
        return;
      }
      if (stored === undefined) {
        const { status, xml } = error('NoSuchKey', 404);
        response.writeHead(status, { 'content-type': 'application/xml' }).end(request.method === 'HEAD' ? undefined : xml);
        return;
      }
      response.writeHead(200, { 'content-length': stored.length, etag: '"e"' }).end(request.method === 'HEAD' ? undefined : stored);
    })();
  });
  return { server, puts };
}

let workDir = '';
let s3rver: LocalS3 | undefined;
let conditional: ReturnType<typeof conditionalS3> | undefined;
const stores: S3BackupStore[] = [];

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'phantomdb-manifest-write-'));
  s3rver = await startLocalS3(path.join(workDir, 's3rver'), ['phantom-backups']);
  conditional = conditionalS3();
  const server = conditional.server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
}, 60_000);

afterAll(async () => {
  for (const store of stores) store.destroy();
  await s3rver?.close();
  await new Promise((resolve) => conditional?.server.close(resolve));
  await rm(workDir, { recursive: true, force: true });
});

function s3Store(endpoint: string, prefix: string): S3BackupStore {
  const store = new S3BackupStore({ bucket: 'phantom-backups', prefix, region: 'us-east-1', endpoint, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  stores.push(store);
  return store;
}

describe('writeManifestOnce', () => {
  it.each(['volume', 'conditional-s3', 's3rver'])('on %s: the first run writes the manifest, a second run of the same backup finds it and leaves it', async (kind) => {
    const store: BackupStore =
      kind === 'volume'
        ? new VolumeBackupStore(path.join(workDir, 'volume'))
        : s3Store(kind === 's3rver' ? (s3rver?.endpoint ?? '') : `http://127.0.0.1:${(conditional?.server.address() as AddressInfo).port}`, `sequential-${kind}`);
    expect(await writeManifestOnce(store, manifestOf('b1', 'run-a'))).toBe('written');
    expect(await writeManifestOnce(store, manifestOf('b1', 'run-b'))).toBe('another-run');
    expect((await readManifest(store, 'b1')).ranges[0]?.files[0]?.objectKey).toBe('b1/ranges/2/run-a-p0-a0-000000.sst');
  });

  it('sends If-None-Match: * and takes a 412 as "another run wrote it" (both runs past their check for a manifest)', async () => {
    const endpoint = `http://127.0.0.1:${(conditional?.server.address() as AddressInfo).port}`;
    const winner = s3Store(endpoint, 'race');
    // The loser checked for a manifest (none) before the winner wrote one: its conditional PUT decides.
    const loserInner = s3Store(endpoint, 'race');
    const loser: BackupStore = Object.assign(Object.create(loserInner) as S3BackupStore, {
      head: async (key: string) => {
        const found = await loserInner.head(key);
        expect(await writeManifestOnce(winner, manifestOf('b2', 'run-a'))).toBe('written');
        return found;
      },
    });
    expect(await writeManifestOnce(loser, manifestOf('b2', 'run-b'))).toBe('another-run');
    const manifestPuts = conditional?.puts.filter((put) => put.key.endsWith(`/race/${manifestKey('b2')}`)) ?? [];
    expect(manifestPuts).toEqual([
      { key: `/phantom-backups/race/${manifestKey('b2')}`, ifNoneMatch: '*', status: 200 },
      { key: `/phantom-backups/race/${manifestKey('b2')}`, ifNoneMatch: '*', status: 412 },
    ]);
    expect((await readManifest(winner, 'b2')).ranges[0]?.files[0]?.objectKey).toBe('b2/ranges/2/run-a-p0-a0-000000.sst');
  });

  it('on a store that ignores the condition (s3rver), a run whose manifest another run replaced learns it lost', async () => {
    const inner = s3Store(s3rver?.endpoint ?? '', 'overwritten');
    // Another run writes its manifest right after ours (s3rver lets it replace ours).
    const racing: BackupStore = Object.assign(Object.create(inner) as S3BackupStore, {
      putNew: async (key: string, data: Readable, sizeBytes: number) => {
        await inner.putNew(key, data, sizeBytes);
        const theirs = encodeManifest(manifestOf('b3', 'run-b'));
        await inner.put(key, Readable.from([theirs]), theirs.length);
      },
    });
    expect(await writeManifestOnce(racing, manifestOf('b3', 'run-a'))).toBe('another-run');
  });
});
