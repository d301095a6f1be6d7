import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { errorCodes } from './errors.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'generated' || name.startsWith('.')) continue;
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

describe('error code registry', () => {
  const doc = readFileSync(path.join(repoRoot, 'docs/errors.md'), 'utf8');
  it('documents every code in docs/errors.md', () => {
    for (const code of Object.keys(errorCodes)) expect(doc, `docs/errors.md lacks ${code}`).toContain(`\`${code}\``);
  });
  it('documents no code that does not exist', () => {
    const documented = [...doc.matchAll(/`(PH_[A-Z_]+)`/g)].map((m) => m[1]);
    for (const code of documented) expect(Object.keys(errorCodes)).toContain(code);
  });
  it('registers every code the source uses', () => {
    const used = new Set<string>();
    for (const dir of ['datanode/src', 'operator/src']) {
      for (const file of sourceFiles(path.join(repoRoot, dir))) {
        for (const m of readFileSync(file, 'utf8').matchAll(/'(PH_[A-Z_]+)'/g)) used.add(m[1] as string);
      }
    }
    expect(used.size).toBeGreaterThan(10);
    for (const code of used) expect(Object.keys(errorCodes), `${code} is used but not registered in datanode/src/errors.ts`).toContain(code);
  });
});
