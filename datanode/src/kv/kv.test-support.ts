import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KvEngine } from './state-machine.ts';

/**
 * The KV engines a test file opens in temporary directories. `cleanup()` (call it from
 * `afterEach`) closes every engine still open and removes every directory this made, so a
 * failed test leaves no open files and no data behind for the next one.
 */
export class TempKvEngines {
  private readonly dirs: string[] = [];
  private readonly engines: KvEngine[] = [];

  /** `prefix` names the directories (`phantomdb-<prefix>-…`), to tell tests' leftovers apart. */
  constructor(private readonly prefix: string) {}

  /** A fresh empty directory that `cleanup()` removes. */
  tempDir(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `phantomdb-${this.prefix}-`));
    this.dirs.push(dir);
    return dir;
  }

  /** Opens an engine in `dir` (a restart), or in a fresh directory when `dir` is not given. */
  async open(dir?: string): Promise<{ kv: KvEngine; dir: string }> {
    const at = dir ?? this.tempDir();
    const kv = await KvEngine.open(at);
    this.engines.push(kv);
    return { kv, dir: at };
  }

  /** Closes `kv` now (to reopen its directory) so that `cleanup()` does not close it again. */
  async close(kv: KvEngine): Promise<void> {
    const at = this.engines.indexOf(kv);
    if (at >= 0) this.engines.splice(at, 1);
    await kv.close();
  }

  /** Closes the engines still open (ignoring errors: a test may have broken one) and removes the directories. */
  async cleanup(): Promise<void> {
    for (const kv of this.engines.splice(0)) await kv.close().catch(() => undefined);
    for (const dir of this.dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  }
}
