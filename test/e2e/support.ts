/**
 * Shared pieces of the e2e suites: the table of named timeouts (CloudNativePG's tests/utils/
 * timeouts), `eventually`, and running kubectl. Waits are always for a condition, with a named
 * bound; there are no sleeps that stand in for synchronisation.
 *
 * PHANTOMDB_E2E_TIMEOUT_SCALE multiplies every timeout (e.g. 3 on a slow CI machine or a real
 * cluster that pulls images).
 */
import { execFile } from 'node:child_process';

const scale = Number(process.env.PHANTOMDB_E2E_TIMEOUT_SCALE ?? '1') || 1;

const baseTimeouts = {
  /** A pod's process starts and its readiness probe passes. */
  podReady: 30_000,
  /** A killed process is restarted by the kubelet and Ready again. */
  podRestart: 45_000,
  /** A new cluster: every node Ready and the PhantomCluster Available. */
  clusterAvailable: 120_000,
  /** Nodes added, joined and caught up; the cluster Available again. */
  scaleOut: 120_000,
  /** Nodes decommissioned and removed; the cluster Available again. */
  scaleIn: 150_000,
  /** The operator reports a refused operation (condition and event). */
  refusal: 30_000,
  /** Owned objects are garbage collected after the cluster is deleted. */
  cleanup: 60_000,
  /** The operator process is back and has taken the leader lease. */
  operatorRestart: 60_000,
  /** Status subresource updates of built-in controllers. */
  controllerStatus: 15_000,
  /** One KV request, retries included. */
  kvRequest: 10_000,
} as const;

export type TimeoutName = keyof typeof baseTimeouts;

export const timeouts: Readonly<Record<TimeoutName, number>> = Object.fromEntries(Object.entries(baseTimeouts).map(([name, ms]) => [name, Math.round(ms * scale)])) as Record<TimeoutName, number>;

const pollIntervalMs = 100;

/** Thrown by a check passed to `eventually` when waiting longer cannot help (e.g. a crash loop on bad configuration). */
export class GiveUp extends Error {
  override readonly name = 'GiveUp';
}

/**
 * Resolves once `check` returns true (or a value other than false/undefined, which is returned);
 * rejects after `timeoutMs` with `what` and the last failure `check` threw, if any, or at once
 * when `check` throws GiveUp.
 */
export async function eventually<T>(check: () => T | false | undefined | Promise<T | false | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (true) {
    try {
      const result = await check();
      if (result !== false && result !== undefined) return result;
    } catch (error) {
      if (error instanceof GiveUp) throw new Error(`gave up waiting for ${what}: ${error.message}`, { cause: error });
      lastError = error;
    }
    if (Date.now() > deadline) {
      const detail = lastError === undefined ? '' : ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
  }
}

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs kubectl (PHANTOMDB_KUBECTL or `kubectl` on PATH) with a kubeconfig (none: kubectl's own
 * defaults, e.g. in-cluster); never throws on a non-zero exit.
 */
export function kubectl(kubeconfig: string, args: readonly string[], input?: string): Promise<CommandResult> {
  const binary = process.env.PHANTOMDB_KUBECTL ?? 'kubectl';
  return new Promise((resolve) => {
    const child = execFile(binary, [...(kubeconfig === '' ? [] : ['--kubeconfig', kubeconfig]), ...args], { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof (error as { code?: unknown }).code === 'number' ? Number((error as { code?: unknown }).code) : 1;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/**
 * Steps of one scenario chain that share state: once a step fails, the later ones fail at once
 * (naming the first failure) instead of each waiting out its own timeout.
 */
export class ScenarioChain {
  private failure: string | undefined;

  step(run: () => Promise<void>): () => Promise<void> {
    return async () => {
      if (this.failure !== undefined) throw new Error(`not run: an earlier step failed (${this.failure})`);
      try {
        await run();
      } catch (error) {
        this.failure = error instanceof Error ? error.message.split('\n')[0] : String(error);
        throw error;
      }
    };
  }
}
