/**
 * Regenerates datanode/proto/generated/ from the .proto files here (`npm run proto:gen`).
 *
 * proto-loader-gen-types writes extensionless relative imports, which NodeNext module resolution
 * rejects; this adds the `.ts` extension our sources use. The loader options passed here must
 * match the ones the transport passes to @grpc/proto-loader at run time (see grpc-service.ts).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const protoDir = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = join(protoDir, '..', '..');
const outDir = join(protoDir, 'generated');
const protoFiles = readdirSync(protoDir).filter((name) => name.endsWith('.proto'));

rmSync(outDir, { recursive: true, force: true });
execFileSync(
  'npx',
  [
    'proto-loader-gen-types',
    '--longs=String',
    '--enums=String',
    '--defaults',
    '--oneofs',
    '--includeComments',
    '--grpcLib=@grpc/grpc-js',
    `--outDir=${relative(repoRoot, outDir)}`,
    // Relative paths, so that the generated headers do not name this machine's checkout.
    ...protoFiles.map((name) => relative(repoRoot, join(protoDir, name))),
  ],
  { stdio: 'inherit', cwd: repoRoot },
);

function addExtensions(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      addExtensions(path);
    } else if (entry.name.endsWith('.ts')) {
      const source = readFileSync(path, 'utf8');
      writeFileSync(path, source.replace(/from '(\.{1,2}\/[^']+?)(?<!\.ts)'/g, "from '$1.ts'"));
    }
  }
}
addExtensions(outDir);
