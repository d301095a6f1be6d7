// Original file: datanode/proto/admin.proto

export const Liveness = {
  LIVENESS_UNSPECIFIED: 'LIVENESS_UNSPECIFIED',
  LIVE: 'LIVE',
  /**
   * Missed recent heartbeats.
   */
  SUSPECT: 'SUSPECT',
  DEAD: 'DEAD',
} as const;

export type Liveness =
  | 'LIVENESS_UNSPECIFIED'
  | 0
  | 'LIVE'
  | 1
  /**
   * Missed recent heartbeats.
   */
  | 'SUSPECT'
  | 2
  | 'DEAD'
  | 3

export type Liveness__Output = typeof Liveness[keyof typeof Liveness]
