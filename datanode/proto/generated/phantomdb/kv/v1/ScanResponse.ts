// Original file: datanode/proto/kv.proto

import type { KeyValue as _phantomdb_kv_v1_KeyValue, KeyValue__Output as _phantomdb_kv_v1_KeyValue__Output } from '../../../phantomdb/kv/v1/KeyValue.ts';

export interface ScanResponse {
  'rows'?: (_phantomdb_kv_v1_KeyValue)[];
  /**
   * More rows exist in the range after the last one returned.
   */
  'more'?: (boolean);
}

export interface ScanResponse__Output {
  'rows': (_phantomdb_kv_v1_KeyValue__Output)[];
  /**
   * More rows exist in the range after the last one returned.
   */
  'more': (boolean);
}
