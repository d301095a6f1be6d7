/** Helpers shared by the operator's tests against the Kubernetes API test server. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { startKubeTestServer, writeKubeconfig, type KubeTestServer, type KubeTestServerOptions } from '../../../test/kube/server.ts';

/** Named timeouts for conditions that become true asynchronously (CloudNativePG style). */
export const timeouts = { watchEvent: 5_000, informerRestart: 10_000, leaderFailover: 10_000, reconcile: 15_000, scaleIn: 30_000 } as const;

/** Polls `check` until it is true or `timeoutMs` passes. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 15));
  }
}

export interface TestApi {
  readonly server: KubeTestServer;
  readonly kubeConfig: KubeConfig;
  close(): Promise<void>;
}

/** A test API server and a KubeConfig for it (through a kubeconfig file, as users have). */
export async function startTestApi(options: KubeTestServerOptions = {}): Promise<TestApi> {
  const server = await startKubeTestServer({ bookmarkIntervalMs: 0, ...options });
  const dir = await mkdtemp(join(tmpdir(), 'phantomdb-operator-'));
  const path = join(dir, 'kubeconfig');
  await writeKubeconfig(path, server.url);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(path);
  return {
    server,
    kubeConfig,
    close: async () => {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
