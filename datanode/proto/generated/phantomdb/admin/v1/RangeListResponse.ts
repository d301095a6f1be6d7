// Original file: datanode/proto/admin.proto

import type { RangeInfo as _phantomdb_admin_v1_RangeInfo, RangeInfo__Output as _phantomdb_admin_v1_RangeInfo__Output } from '../../../phantomdb/admin/v1/RangeInfo.ts';

export interface RangeListResponse {
  'ranges'?: (_phantomdb_admin_v1_RangeInfo)[];
}

export interface RangeListResponse__Output {
  'ranges': (_phantomdb_admin_v1_RangeInfo__Output)[];
}
