/** Ports of a data node (ARCHITECTURE.md, "Ports"). */
export const ports = {
  /** PostgreSQL wire protocol. */
  sql: 5432,
  /** HTTP: SQL API, admin API, /healthz, /readyz, /metrics, console. */
  http: 8080,
  /** gRPC: Raft transport between nodes and the admin service. */
  peer: 7000,
} as const;
