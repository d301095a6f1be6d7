/**
 * The real tools the observability tests drive: Debian's `prometheus` and `promtool`, and
 * `chromium` for the rendered dashboards. Installed with apt-get when missing (as CI does, see
 * /work/shared/TESTING.md); when that is impossible the test fails with this message instead of
 * skipping.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const installAttempted = new Set<string>();
/** Test files run in parallel: wait for another apt-get's lock instead of failing on it. */
const aptLockWait = ['-o', 'DPkg::Lock::Timeout=600'];

/** Path of `binary` from Debian's `pkg`, installing it with apt-get when absent. Throws if it cannot. */
export function debianTool(binary: string, pkg: string): string {
  const file = `/usr/bin/${binary}`;
  if (existsSync(file)) return file;
  if (!installAttempted.has(pkg)) {
    installAttempted.add(pkg);
    try {
      execFileSync('apt-get', [...aptLockWait, 'install', '-y', '--no-install-recommends', pkg], { stdio: 'pipe', timeout: 600_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    } catch {
      try {
        execFileSync('apt-get', [...aptLockWait, 'update'], { stdio: 'pipe', timeout: 300_000 });
        execFileSync('apt-get', [...aptLockWait, 'install', '-y', '--no-install-recommends', pkg], { stdio: 'pipe', timeout: 600_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
      } catch (err) {
        throw new Error(`${binary} is required and could not be installed (apt-get install -y ${pkg} failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}). Install Debian's ${pkg} package and run again.`, { cause: err });
      }
    }
  }
  if (!existsSync(file)) throw new Error(`${binary} is required: apt-get install -y ${pkg} did not provide ${file}`);
  return file;
}
