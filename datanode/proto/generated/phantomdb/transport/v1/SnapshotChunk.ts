// Original file: datanode/proto/phantomdb.proto

import type { SnapshotHeader as _phantomdb_transport_v1_SnapshotHeader, SnapshotHeader__Output as _phantomdb_transport_v1_SnapshotHeader__Output } from '../../../phantomdb/transport/v1/SnapshotHeader.ts';
import type { SnapshotTrailer as _phantomdb_transport_v1_SnapshotTrailer, SnapshotTrailer__Output as _phantomdb_transport_v1_SnapshotTrailer__Output } from '../../../phantomdb/transport/v1/SnapshotTrailer.ts';

export interface SnapshotChunk {
  'header'?: (_phantomdb_transport_v1_SnapshotHeader | null);
  'data'?: (Buffer | Uint8Array | string);
  'trailer'?: (_phantomdb_transport_v1_SnapshotTrailer | null);
  'part'?: "header"|"data"|"trailer";
}

export interface SnapshotChunk__Output {
  'header'?: (_phantomdb_transport_v1_SnapshotHeader__Output | null);
  'data'?: (Buffer);
  'trailer'?: (_phantomdb_transport_v1_SnapshotTrailer__Output | null);
  'part'?: "header"|"data"|"trailer";
}
