// Original file: datanode/proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface ExportRangeChunk {
  'fileIndex'?: (number);
  'data'?: (Buffer | Uint8Array | string);
  /**
   * Set on a file's last chunk, with the file's description.
   */
  'fileEnd'?: (boolean);
  'entries'?: (number | string | Long);
  'fileBytes'?: (number | string | Long);
  'smallestKey'?: (Buffer | Uint8Array | string);
  'largestKey'?: (Buffer | Uint8Array | string);
}

export interface ExportRangeChunk__Output {
  'fileIndex': (number);
  'data': (Buffer);
  /**
   * Set on a file's last chunk, with the file's description.
   */
  'fileEnd': (boolean);
  'entries': (string);
  'fileBytes': (string);
  'smallestKey': (Buffer);
  'largestKey': (Buffer);
}
