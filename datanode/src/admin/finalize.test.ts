/**
 * FinalizeClusterVersion over real loopback gRPC: the request and answer are carried as the
 * backend gives them, a malformed target is refused before the backend sees it, a refusal
 * (PH_FINALIZE_REFUSED) reaches the caller at once with its message (not retried), and a node
 * of a build without the call answers PH_UNIMPLEMENTED. The backend is a stub (not under test).
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import type { AdminBackend, FinalizeResult } from './backend.ts';
import { AdminClient } from './client.ts';
import { AdminError } from './errors.ts';
import { adminHandlers, addAdminService } from './service.ts';
import { adminProto } from './proto.ts';
import { AdminTestServers, stubAdminBackend } from './admin.test-support.ts';

function stubBackend(finalize: (target: string) => Promise<FinalizeResult>): AdminBackend & { targets: string[] } {
  const targets: string[] = [];
  return stubAdminBackend({
    targets,
    finalizeClusterVersion: (target: string) => {
      targets.push(target);
      return finalize(target);
    },
  });
}

const fixtures = new AdminTestServers();
const serve = (register: (server: grpc.Server) => void): Promise<AdminClient> => fixtures.serve(register);

async function failure(call: Promise<unknown>): Promise<AdminError> {
  const err: unknown = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AdminError);
  return err as AdminError;
}

afterEach(() => fixtures.close());

describe('FinalizeClusterVersion', () => {
  it('carries the target and the versions before and after', async () => {
    const backend = stubBackend((target) => Promise.resolve({ clusterVersion: target === '' ? '0.2.0' : target, previousVersion: '0.1.0' }));
    const client = await serve((server) => addAdminService(server, backend));
    expect(await client.finalizeClusterVersion('0.3.0')).toEqual({ clusterVersion: '0.3.0', previousVersion: '0.1.0' });
    expect(await client.finalizeClusterVersion()).toEqual({ clusterVersion: '0.2.0', previousVersion: '0.1.0' });
    expect(backend.targets).toEqual(['0.3.0', '']);
  });

  it('refuses a target that is not a version before the backend sees it', async () => {
    const backend = stubBackend(() => Promise.resolve({ clusterVersion: '0.1.0', previousVersion: '0.1.0' }));
    const client = await serve((server) => addAdminService(server, backend));
    const error = await failure(client.finalizeClusterVersion('latest'));
    expect(error.code).toBe('PH_BAD_REQUEST');
    expect(error.message).toContain('"latest" is not a version');
    expect(backend.targets).toEqual([]);
  });

  it('passes a refusal through at once, naming the nodes, without retrying it', async () => {
    const backend = stubBackend(() => Promise.reject(new AdminError('PH_FINALIZE_REFUSED', 'node 2 runs 0.1.0: it cannot run cluster version 0.2.0')));
    const client = await serve((server) => addAdminService(server, backend));
    const error = await failure(client.finalizeClusterVersion('0.2.0'));
    expect(error.code).toBe('PH_FINALIZE_REFUSED');
    expect(error.retriable).toBe(false);
    expect(error.message).toContain('node 2 runs 0.1.0');
    expect(backend.targets).toEqual(['0.2.0']);
  });

  it('answers PH_UNIMPLEMENTED from a node of a build without the call', async () => {
    const backend = stubBackend(() => Promise.resolve({ clusterVersion: '0.1.0', previousVersion: '0.1.0' }));
    const { FinalizeClusterVersion: _missing, ...olderHandlers } = adminHandlers(backend);
    const client = await serve((server) => server.addService(adminProto().Admin.service, olderHandlers));
    const error = await failure(client.finalizeClusterVersion('0.2.0'));
    expect(error.code).toBe('PH_UNIMPLEMENTED');
    expect(backend.targets).toEqual([]);
  });
});
