/** Ports of a data node (ARCHITECTURE.md, "Ports"). */
export const ports = {
  /** PostgreSQL wire protocol. */
  sql: 5432,
  /** HTTP: SQL API, admin API, /healthz, /readyz, /metrics, console. */
  http: 8080,
  /** gRPC: Raft transport between nodes. */
  peer: 7000,
  /** gRPC: the KV API and the admin service (the operator dials a pod's IP here). */
  kv: 7010,
} as const;
