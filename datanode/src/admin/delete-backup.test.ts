/**
 * DeleteBackup over real loopback gRPC with the data node's implementation on a directory (a
 * volume destination): every object of the named backup goes, another backup's stay, a repeat
 * deletes nothing more, and a malformed id, a relative volume path or a folder that holds more
 * than backup objects is refused before anything is touched. The operator's retention uses it for volumes only the data pods mount.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { VolumeBackupStore } from '../backup/store.ts';
import { deleteBackupObjects } from '../node/admin-backend.ts';
import type { AdminBackend } from './backend.ts';
import { AdminClient } from './client.ts';
import { AdminError } from './errors.ts';
import { addAdminService } from './service.ts';
import { AdminTestServers, stubAdminBackend } from './admin.test-support.ts';

const backend: AdminBackend = stubAdminBackend({ deleteBackup: deleteBackupObjects });

const fixtures = new AdminTestServers();
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await fixtures.close();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

const serve = (): Promise<AdminClient> => fixtures.serve((server) => addAdminService(server, backend));

async function put(store: VolumeBackupStore, key: string): Promise<void> {
  const body = Buffer.from(`object ${key}`);
  await store.put(key, Readable.from([body]), body.byteLength);
}

describe('DeleteBackup', () => {
  it('deletes every object of one backup at a volume destination and nothing else; a repeat deletes nothing', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'phantomdb-delete-backup-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const store = new VolumeBackupStore(path.join(dir, 'nightly'));
    for (const key of ['old-1/manifest.json', 'old-1/ranges/2/000000.sst', 'old-1/ranges/3/000000.sst', 'new-2/manifest.json', 'new-2/ranges/2/000000.sst']) await put(store, key);
    const client = await serve();
    const destination = { kind: 'volume' as const, path: path.join(dir, 'nightly') };
    expect(await client.deleteBackup('old-1', destination)).toBe(3);
    expect((await store.list('')).sort()).toEqual(['new-2/manifest.json', 'new-2/ranges/2/000000.sst']);
    expect(await readdir(path.join(dir, 'nightly'))).toEqual(['new-2']);
    expect(await client.deleteBackup('old-1', destination)).toBe(0);
  });

  it('deletes the temporary files interrupted writes left in the backup (.partial), and only that backup\'s', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'phantomdb-delete-backup-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const store = new VolumeBackupStore(dir);
    await put(store, 'old-1/ranges/2/n1-x-p0-a0-000000.sst');
    await put(store, 'new-2/manifest.json');
    // What a killed writer leaves: an upload's temp file, a staged export, an exclusive manifest write's temp file.
    const leftovers = ['old-1/ranges/2/n1-x-p0-a0-000001.sst.partial', 'old-1/ranges/3/n2-y-p0-a1-000000.sst.partial', 'old-1/manifest.json.4242.new.partial', 'new-2/ranges/2/000000.sst.partial'];
    for (const key of leftovers) {
      await mkdir(path.dirname(path.join(dir, key)), { recursive: true });
      await writeFile(path.join(dir, key), 'partial bytes');
    }
    const client = await serve();
    expect(await client.deleteBackup('old-1', { kind: 'volume', path: dir })).toBe(4);
    expect(await readdir(dir)).toEqual(['new-2']);
    expect(await store.listPartial('')).toEqual(['new-2/ranges/2/000000.sst.partial']);
  });

  it('refuses a folder that holds anything but backup objects, deleting nothing', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'phantomdb-delete-backup-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const store = new VolumeBackupStore(dir);
    for (const key of ['home/manifest.json', 'home/notes.txt']) await put(store, key);
    const client = await serve();
    const err: unknown = await client.deleteBackup('home', { kind: 'volume', path: dir }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AdminError);
    expect((err as AdminError).code).toBe('PH_BAD_REQUEST');
    expect((err as AdminError).message).toContain('home/notes.txt, which is not a backup object');
    expect((await store.list('')).sort()).toEqual(['home/manifest.json', 'home/notes.txt']);
  });

  it('refuses a malformed backup id or a relative volume path', async () => {
    const client = await serve();
    const refused = async (call: Promise<unknown>): Promise<string> => {
      const err: unknown = await call.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AdminError);
      return (err as AdminError).code;
    };
    expect(await refused(client.deleteBackup('../etc', { kind: 'volume', path: '/tmp' }))).toBe('PH_BAD_REQUEST');
    expect(await refused(client.deleteBackup('b1', { kind: 'volume', path: 'relative/dir' }))).toBe('PH_BAD_REQUEST');
  });
});
