/**
 * Loads datanode/proto/kv.proto at run time with the same options `npm run proto:gen` uses for
 * the generated types (datanode/proto/generated/kv.ts), so the two agree.
 */
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from '../../proto/generated/kv.ts';

const protoPath = path.resolve(import.meta.dirname, '..', '..', 'proto', 'kv.proto');

let loaded: ProtoGrpcType | undefined;

export function kvProto(): ProtoGrpcType['phantomdb']['kv']['v1'] {
  if (loaded === undefined) {
    const definition = protoLoader.loadSync(protoPath, { longs: String, enums: String, defaults: true, oneofs: true });
    loaded = grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
  }
  return loaded.phantomdb.kv.v1;
}

/** Metadata keys of the KV API's error details and cluster check. */
export const metadataKeys = {
  errorCode: 'ph-error-code',
  leaderId: 'ph-leader-id',
  leaderAddress: 'ph-leader-address',
  clusterId: 'ph-cluster-id',
} as const;

/**
 * Response header: the KV address of the node that served a request the node asked forwarded
 * (the range's leader). Clients send their next requests there and skip the extra hop.
 */
export const servedByMetadataKey = 'ph-served-by';
