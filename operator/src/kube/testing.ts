/**
 * Helpers shared by the operator's tests against the Kubernetes API test server. Nothing here
 * imports test/ (this folder is part of the operator build); the tests start the server.
 */
import { KubeConfig } from '@kubernetes/client-node';

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

/** A KubeConfig for an API server at `url` (plain HTTP, token auth as the test server accepts). */
export function kubeConfigFor(url: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'test', server: url, skipTLSVerify: true }],
    users: [{ name: 'test', token: 'phantomdb-test-token' }],
    contexts: [{ name: 'test', cluster: 'test', user: 'test', namespace: 'default' }],
    currentContext: 'test',
  });
  return kubeConfig;
}

/**
 * Creates the CustomResourceDefinitions `crds` (the operator's: `kindDefinitions.map(crdOf)`) on
 * the API server at `url`, in order. Throws naming the first one the server refuses.
 */
export async function installCrds(url: string, crds: readonly { readonly metadata?: unknown }[]): Promise<void> {
  for (const crd of crds) {
    const response = await fetch(`${url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(crd) });
    if (!response.ok) {
      const name = typeof crd.metadata === 'object' && crd.metadata !== null && 'name' in crd.metadata ? String(crd.metadata.name) : 'without a name';
      throw new Error(`CRD ${name}: ${response.status} ${await response.text()}`);
    }
  }
}
