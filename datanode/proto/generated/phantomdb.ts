import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { FramesSummary as _phantomdb_transport_v1_FramesSummary, FramesSummary__Output as _phantomdb_transport_v1_FramesSummary__Output } from './phantomdb/transport/v1/FramesSummary.ts';
import type { HelloRequest as _phantomdb_transport_v1_HelloRequest, HelloRequest__Output as _phantomdb_transport_v1_HelloRequest__Output } from './phantomdb/transport/v1/HelloRequest.ts';
import type { HelloResponse as _phantomdb_transport_v1_HelloResponse, HelloResponse__Output as _phantomdb_transport_v1_HelloResponse__Output } from './phantomdb/transport/v1/HelloResponse.ts';
import type { ProtocolVersionRange as _phantomdb_transport_v1_ProtocolVersionRange, ProtocolVersionRange__Output as _phantomdb_transport_v1_ProtocolVersionRange__Output } from './phantomdb/transport/v1/ProtocolVersionRange.ts';
import type { RaftFrame as _phantomdb_transport_v1_RaftFrame, RaftFrame__Output as _phantomdb_transport_v1_RaftFrame__Output } from './phantomdb/transport/v1/RaftFrame.ts';
import type { RaftTransportClient as _phantomdb_transport_v1_RaftTransportClient, RaftTransportDefinition as _phantomdb_transport_v1_RaftTransportDefinition } from './phantomdb/transport/v1/RaftTransport.ts';
import type { SnapshotAck as _phantomdb_transport_v1_SnapshotAck, SnapshotAck__Output as _phantomdb_transport_v1_SnapshotAck__Output } from './phantomdb/transport/v1/SnapshotAck.ts';
import type { SnapshotChunk as _phantomdb_transport_v1_SnapshotChunk, SnapshotChunk__Output as _phantomdb_transport_v1_SnapshotChunk__Output } from './phantomdb/transport/v1/SnapshotChunk.ts';
import type { SnapshotHeader as _phantomdb_transport_v1_SnapshotHeader, SnapshotHeader__Output as _phantomdb_transport_v1_SnapshotHeader__Output } from './phantomdb/transport/v1/SnapshotHeader.ts';
import type { SnapshotTrailer as _phantomdb_transport_v1_SnapshotTrailer, SnapshotTrailer__Output as _phantomdb_transport_v1_SnapshotTrailer__Output } from './phantomdb/transport/v1/SnapshotTrailer.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  phantomdb: {
    transport: {
      v1: {
        FramesSummary: MessageTypeDefinition<_phantomdb_transport_v1_FramesSummary, _phantomdb_transport_v1_FramesSummary__Output>
        HelloRequest: MessageTypeDefinition<_phantomdb_transport_v1_HelloRequest, _phantomdb_transport_v1_HelloRequest__Output>
        HelloResponse: MessageTypeDefinition<_phantomdb_transport_v1_HelloResponse, _phantomdb_transport_v1_HelloResponse__Output>
        ProtocolVersionRange: MessageTypeDefinition<_phantomdb_transport_v1_ProtocolVersionRange, _phantomdb_transport_v1_ProtocolVersionRange__Output>
        RaftFrame: MessageTypeDefinition<_phantomdb_transport_v1_RaftFrame, _phantomdb_transport_v1_RaftFrame__Output>
        RaftTransport: SubtypeConstructor<typeof grpc.Client, _phantomdb_transport_v1_RaftTransportClient> & { service: _phantomdb_transport_v1_RaftTransportDefinition }
        SnapshotAck: MessageTypeDefinition<_phantomdb_transport_v1_SnapshotAck, _phantomdb_transport_v1_SnapshotAck__Output>
        SnapshotChunk: MessageTypeDefinition<_phantomdb_transport_v1_SnapshotChunk, _phantomdb_transport_v1_SnapshotChunk__Output>
        SnapshotHeader: MessageTypeDefinition<_phantomdb_transport_v1_SnapshotHeader, _phantomdb_transport_v1_SnapshotHeader__Output>
        SnapshotTrailer: MessageTypeDefinition<_phantomdb_transport_v1_SnapshotTrailer, _phantomdb_transport_v1_SnapshotTrailer__Output>
      }
    }
  }
}

