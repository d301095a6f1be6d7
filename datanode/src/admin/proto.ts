/**
 * Loads datanode/proto/admin.proto at run time with the options `npm run proto:gen` uses for the
 * generated types (datanode/proto/generated/admin.ts), so the two agree.
 */
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from '../../proto/generated/admin.ts';

const protoPath = path.resolve(import.meta.dirname, '..', '..', 'proto', 'admin.proto');

let loaded: ProtoGrpcType | undefined;

export function adminProto(): ProtoGrpcType['phantomdb']['admin']['v1'] {
  if (loaded === undefined) {
    const definition = protoLoader.loadSync(protoPath, { longs: String, enums: String, defaults: true, oneofs: true });
    loaded = grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
  }
  return loaded.phantomdb.admin.v1;
}

/** Metadata keys of error details and the cluster check (shared with the KV API). */
export const adminMetadataKeys = {
  errorCode: 'ph-error-code',
  leaderId: 'ph-leader-id',
  leaderAddress: 'ph-leader-address',
  clusterId: 'ph-cluster-id',
} as const;
