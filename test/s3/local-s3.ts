/**
 * A real S3 HTTP API on loopback (s3rver), for tests of backup destinations. Objects live in a
 * directory the caller owns; buckets are created up front.
 */
import { mkdir } from 'node:fs/promises';
import S3rver from 's3rver';

export interface LocalS3 {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  close(): Promise<void>;
}

export interface LocalS3Options {
  /** Where to listen (default 127.0.0.1; 0.0.0.0 for pods of a real cluster to reach it). */
  readonly address?: string;
  /** The host in `endpoint` (default the listen address): e.g. this pod's IP in a kind cluster. */
  readonly advertiseHost?: string;
}

/** Starts s3rver on a free port (loopback unless told otherwise) with the given buckets. */
export async function startLocalS3(directory: string, buckets: readonly string[], options: LocalS3Options = {}): Promise<LocalS3> {
  await mkdir(directory, { recursive: true });
  const address = options.address ?? '127.0.0.1';
  const server = new S3rver({ port: 0, address, silent: true, directory, configureBuckets: buckets.map((name) => ({ name })) });
  const { port } = await server.run();
  return {
    endpoint: `http://${options.advertiseHost ?? address}:${port}`,
    region: 'us-east-1',
    // s3rver accepts exactly these.
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    close: () => server.close(),
  };
}
