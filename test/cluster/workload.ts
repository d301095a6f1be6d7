/**
 * Concurrent client load for cluster tests: each client runs put/get/delete/cas on a few shared
 * keys (recorded for the linearizability checker) and appends unique keys of its own whose
 * acknowledgments are remembered (to check that no acknowledged write is lost).
 */
import { KvClient } from '../../datanode/src/kv/client.ts';
import { KvError, type KvErrorCode } from '../../datanode/src/kv/errors.ts';
import { checkLinearizable, type CheckResult } from '../lin/checker.ts';
import { HistoryRecorder } from '../lin/history.ts';
import { phantomKvModel, type KeyValueState, type PhantomKvInput, type PhantomKvOutput } from '../lin/models.ts';

/** Failures after which a write certainly did not take effect. */
const definiteWriteFailures: ReadonlySet<KvErrorCode> = new Set(['PH_NOT_LEADER', 'PH_PROPOSAL_DROPPED', 'PH_OVERLOADED', 'PH_BAD_REQUEST', 'PH_TOO_LARGE', 'PH_WRONG_CLUSTER']);

export interface WorkloadOptions {
  readonly endpoints: readonly string[];
  readonly clusterId: string;
  readonly clients: number;
  readonly keys: number;
  /** Seeded choice of operations, printed on failure. */
  readonly seed: number;
}

function rng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

export class Workload {
  readonly recorder = new HistoryRecorder<PhantomKvInput, PhantomKvOutput>({ clock: { nowMs: () => performance.now() } });
  /** Unique keys whose put was acknowledged, with their values. */
  readonly acknowledged = new Map<string, string>();
  private running = true;
  private readonly loops: Promise<void>[] = [];
  private readonly clients: KvClient[] = [];
  counts = { ok: 0, failed: 0, unknown: 0 };
  /** Client errors by code (every failed or unknown operation), to check that only retriable ones occur. */
  readonly errorCodes = new Map<string, number>();

  constructor(readonly options: WorkloadOptions) {
    for (let c = 0; c < options.clients; c++) {
      const client = new KvClient({ endpoints: [...options.endpoints].sort(() => 0), clusterId: options.clusterId, deadlineMs: 2000, attemptDeadlineMs: 1000, backoffMaxMs: 200 });
      this.clients.push(client);
      this.loops.push(this.runClient(c, client, rng(options.seed * 1000 + c)));
    }
  }

  private async runClient(clientId: number, client: KvClient, random: () => number): Promise<void> {
    let sequence = 0;
    while (this.running) {
      sequence++;
      if (random() < 0.2) {
        await this.durablePut(client, `d/${clientId}/${sequence}`, `v${clientId}.${sequence}`);
        continue;
      }
      const key = `k${Math.floor(random() * this.options.keys)}`;
      const value = `${clientId}.${sequence}`;
      const roll = random();
      const input: PhantomKvInput =
        roll < 0.4 ? { kind: 'get', key } : roll < 0.7 ? { kind: 'put', key, value } : roll < 0.8 ? { kind: 'delete', key } : { kind: 'cas', key, expected: random() < 0.3 ? null : `${Math.floor(random() * this.options.clients)}.${Math.max(1, sequence - 1 - Math.floor(random() * 3))}`, next: value };
      const handle = this.recorder.invoke(clientId, input);
      try {
        const output = await this.execute(client, input);
        this.recorder.ok(handle, output);
        this.counts.ok++;
      } catch (err) {
        const code = err instanceof KvError ? err.code : undefined;
        this.errorCodes.set(code ?? 'other', (this.errorCodes.get(code ?? 'other') ?? 0) + 1);
        const definite = input.kind === 'get' || (code !== undefined && definiteWriteFailures.has(code));
        if (definite) {
          this.recorder.fail(handle);
          this.counts.failed++;
        } else {
          this.recorder.unknown(handle);
          this.counts.unknown++;
        }
        if (!(err instanceof KvError)) throw err;
      }
    }
  }

  private async durablePut(client: KvClient, key: string, value: string): Promise<void> {
    try {
      await client.put(key, value);
      this.acknowledged.set(key, value);
    } catch (err) {
      if (!(err instanceof KvError)) throw err;
    }
  }

  private async execute(client: KvClient, input: PhantomKvInput): Promise<PhantomKvOutput> {
    switch (input.kind) {
      case 'get': {
        const value = await client.get(input.key);
        return { kind: 'get', value: value === null ? null : value.toString('utf8') };
      }
      case 'put':
        await client.put(input.key, input.value);
        return { kind: 'put' };
      case 'delete':
        await client.delete(input.key);
        return { kind: 'delete' };
      case 'cas': {
        const result = await client.compareAndSet(input.key, input.expected, input.next);
        return { kind: 'cas', ok: result.succeeded };
      }
    }
  }

  /** Waits until at least `count` more operations succeed (the cluster makes progress). */
  async progress(count: number, timeoutMs: number): Promise<void> {
    const target = this.counts.ok + count;
    const deadline = performance.now() + timeoutMs;
    while (this.counts.ok < target) {
      if (performance.now() > deadline) throw new Error(`no progress: ${this.counts.ok}/${target} ops ok after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /** Reads every acknowledged unique key back; answers the ones missing or wrong. */
  async lostWrites(endpoints: readonly string[]): Promise<string[]> {
    const client = new KvClient({ endpoints: [...endpoints], clusterId: this.options.clusterId, deadlineMs: 10_000 });
    const lost: string[] = [];
    try {
      const rows = new Map<string, string>();
      let start = 'd/';
      for (;;) {
        const page = await client.scan(start, 'd0', 1000);
        for (const row of page.rows) rows.set(row.key.toString('utf8'), row.value.toString('utf8'));
        const last = page.rows[page.rows.length - 1];
        if (!page.more || last === undefined) break;
        start = `${last.key.toString('utf8')}\u0000`;
      }
      for (const [key, value] of this.acknowledged) if (rows.get(key) !== value) lost.push(key);
    } finally {
      client.close();
    }
    return lost;
  }

  check(): CheckResult<KeyValueState, PhantomKvInput, PhantomKvOutput> {
    return checkLinearizable(phantomKvModel(), this.recorder.toOperations(), { timeoutMs: 60_000 });
  }

  close(): void {
    for (const client of this.clients) client.close();
  }
}

/**
 * Writes a probe key through the healthy nodes and reads it through one paused node (a client
 * pinned to it), recording all of it in the workload's history: a read the old leader answered
 * from stale state shows up as a linearizability violation.
 */
export class StaleReadProbe {
  private readonly writer: KvClient;
  private readonly reader: KvClient;

  constructor(
    private readonly load: Workload,
    clusterId: string,
    pausedAddress: string,
    healthyAddresses: readonly string[],
  ) {
    this.writer = new KvClient({ endpoints: [...healthyAddresses], clusterId, deadlineMs: 10_000 });
    this.reader = new KvClient({ endpoints: [pausedAddress], clusterId, deadlineMs: 30_000, attemptDeadlineMs: 30_000 });
  }

  /** Puts `value` until one put is acknowledged (failed attempts stay in the history as unknown). */
  async write(value: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const handle = this.load.recorder.invoke(`probe-writer-${attempt}`, { kind: 'put', key: 'probe', value });
      try {
        await this.writer.put('probe', value);
        this.load.recorder.ok(handle, { kind: 'put' });
        return;
      } catch (err) {
        this.load.recorder.unknown(handle);
        if (attempt >= 20 || !(err instanceof KvError)) throw err;
      }
    }
  }

  async readFromPaused(): Promise<void> {
    const handle = this.load.recorder.invoke('probe-reader', { kind: 'get', key: 'probe' });
    try {
      const value = await this.reader.get('probe');
      this.load.recorder.ok(handle, { kind: 'get', value: value === null ? null : value.toString('utf8') });
    } catch {
      this.load.recorder.fail(handle);
    }
  }

  close(): void {
    this.writer.close();
    this.reader.close();
  }
}
