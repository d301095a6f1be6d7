/**
 * Backups of a PhantomDB cluster: the versioned manifest, destinations (volume, S3), the writer,
 * the verifier and the restorer, and the interfaces the data node implements (ports.ts).
 * docs/backup.md describes the format and its use.
 */
export * from './errors.ts';
export * from './manifest.ts';
export * from './ports.ts';
export * from './store.ts';
export * from './throttle.ts';
export * from './writer.ts';
export * from './reader.ts';
export * from './engine-adapters.ts';
export * from './protected-timestamps.ts';
