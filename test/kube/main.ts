/**
 * Runs the Kubernetes API test server for humans:
 *   npx tsx test/kube/main.ts --port 6443 --kubeconfig .phantomdb/kubeconfig
 * then `kubectl --kubeconfig .phantomdb/kubeconfig get ns`. Stops on SIGINT/SIGTERM.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startKubeTestServer, writeKubeconfig } from './server.ts';

const usage = `Usage: npx tsx test/kube/main.ts [--port N] [--host H] [--kubeconfig PATH]

Starts PhantomDB's in-memory Kubernetes API test server (no authentication, HTTP only).

Options:
  --port N           port to listen on (default 6443; 0 picks a free port)
  --host H           address to bind (default 127.0.0.1)
  --kubeconfig PATH  write a kubeconfig for the server there (default .phantomdb/kubeconfig)
  --help             show this help

kubectl needs --validate=false for apply/create (the server serves no OpenAPI document).
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '6443' },
      host: { type: 'string', default: '127.0.0.1' },
      kubeconfig: { type: 'string', default: '.phantomdb/kubeconfig' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(usage);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid --port ${values.port}`);
  const server = await startKubeTestServer({ port, host: values.host });
  const kubeconfig = resolve(values.kubeconfig);
  await mkdir(dirname(kubeconfig), { recursive: true });
  await writeKubeconfig(kubeconfig, server.url);
  process.stdout.write(`Kubernetes API test server listening on ${server.url}\nkubeconfig: ${kubeconfig}\ntry: kubectl --kubeconfig ${kubeconfig} get namespaces\n`);
  const stop = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${usage}`);
  process.exit(1);
});
