import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/** A fresh temporary directory; `cleanup()` removes it. For tests. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), `phantomdb-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const key = (i: number): Buffer => Buffer.from(`key-${String(i).padStart(8, '0')}`);
export const val = (i: number, round = 0): Buffer => Buffer.from(`value-${i}-${round}-${'x'.repeat(i % 17)}`);
