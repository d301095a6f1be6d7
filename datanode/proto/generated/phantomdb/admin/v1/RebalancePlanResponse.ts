// Original file: datanode/proto/admin.proto

import type { PlannedMove as _phantomdb_admin_v1_PlannedMove, PlannedMove__Output as _phantomdb_admin_v1_PlannedMove__Output } from '../../../phantomdb/admin/v1/PlannedMove.ts';
import type { NodeLoadChange as _phantomdb_admin_v1_NodeLoadChange, NodeLoadChange__Output as _phantomdb_admin_v1_NodeLoadChange__Output } from '../../../phantomdb/admin/v1/NodeLoadChange.ts';
import type { Long } from '@grpc/proto-loader';

export interface RebalancePlanResponse {
  /**
   * The first moves (at most 1000), in the order the dry run makes them.
   */
  'moves'?: (_phantomdb_admin_v1_PlannedMove)[];
  'moveCount'?: (number);
  'bytesToCopy'?: (number | string | Long);
  /**
   * False when the dry run stopped before the planner went quiet.
   */
  'converged'?: (boolean);
  /**
   * Every node that can host replicas is inside the count band now (before any move).
   */
  'balanced'?: (boolean);
  'nodes'?: (_phantomdb_admin_v1_NodeLoadChange)[];
}

export interface RebalancePlanResponse__Output {
  /**
   * The first moves (at most 1000), in the order the dry run makes them.
   */
  'moves': (_phantomdb_admin_v1_PlannedMove__Output)[];
  'moveCount': (number);
  'bytesToCopy': (string);
  /**
   * False when the dry run stopped before the planner went quiet.
   */
  'converged': (boolean);
  /**
   * Every node that can host replicas is inside the count band now (before any move).
   */
  'balanced': (boolean);
  'nodes': (_phantomdb_admin_v1_NodeLoadChange__Output)[];
}
