// Original file: datanode/proto/phantomdb.proto

import type { Long } from '@grpc/proto-loader';

export interface FramesSummary {
  'framesReceived'?: (number | string | Long);
}

export interface FramesSummary__Output {
  'framesReceived': (string);
}
