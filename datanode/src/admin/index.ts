/** The data node's admin API: the service over an AdminBackend, and its typed client. */
export * from './backend.ts';
export * from './client.ts';
export * from './errors.ts';
export { adminMetadataKeys, adminProto } from './proto.ts';
export * from './service.ts';
