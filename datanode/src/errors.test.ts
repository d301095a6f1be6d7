import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorCodes } from './errors.ts';

describe('error code registry', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  it('documents every code in docs/errors.md', () => {
    for (const code of Object.keys(errorCodes)) expect(doc, `docs/errors.md lacks ${code}`).toContain(`\`${code}\``);
  });
  it('documents no code that does not exist', () => {
    const documented = [...doc.matchAll(/`(PH_[A-Z_]+)`/g)].map((m) => m[1]);
    for (const code of documented) expect(Object.keys(errorCodes)).toContain(code);
  });
});
