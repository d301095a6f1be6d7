/**
 * Writes the CustomResourceDefinitions generated from operator/src/api to `crds/` and to the
 * Helm chart's `crds/` folder, so both always match the zod schemas. `--check` writes nothing
 * and exits 1 when a file is missing, stale, or not generated (a CRD file we no longer produce).
 *
 *   npm run crds:gen            regenerate
 *   npm run crds:gen -- --check verify (CI also does this through operator/src/api/crds.test.ts)
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedCrdFiles } from '../operator/src/api/crds.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const crdDirectories = [join(root, 'crds'), join(root, 'charts', 'phantomdb-operator', 'crds')];

/** Differences between the generated CRDs and the files in `directory`, as sentences. */
export function staleCrdFiles(directory: string, files: ReadonlyMap<string, string>): string[] {
  const problems: string[] = [];
  for (const [name, text] of files) {
    const path = join(directory, name);
    if (!existsSync(path)) problems.push(`${path} is missing`);
    else if (readFileSync(path, 'utf8') !== text) problems.push(`${path} is stale`);
  }
  const present = existsSync(directory) ? readdirSync(directory).filter((name) => name.endsWith('.yaml')) : [];
  for (const name of present) if (!files.has(name)) problems.push(`${join(directory, name)} is not generated from operator/src/api`);
  return problems;
}

function main(argv: readonly string[]): number {
  const files = generatedCrdFiles();
  if (argv.includes('--check')) {
    const problems = crdDirectories.flatMap((directory) => staleCrdFiles(directory, files));
    for (const problem of problems) console.error(problem);
    if (problems.length > 0) console.error('run `npm run crds:gen` and commit the result');
    return problems.length === 0 ? 0 : 1;
  }
  for (const directory of crdDirectories) {
    mkdirSync(directory, { recursive: true });
    for (const name of readdirSync(directory)) if (name.endsWith('.yaml') && !files.has(name)) rmSync(join(directory, name));
    for (const [name, text] of files) writeFileSync(join(directory, name), text);
    console.log(`wrote ${files.size} CRDs to ${directory}`);
  }
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main(process.argv.slice(2));
