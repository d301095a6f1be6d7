import * as fs from 'node:fs';

/** Capacity and free bytes of the file system holding `dir`, or undefined when it cannot be read. */
export function diskSpaceOf(dir: string): { capacityBytes: number; availableBytes: number } | undefined {
  try {
    const stats = fs.statfsSync(dir);
    return { capacityBytes: stats.blocks * stats.bsize, availableBytes: stats.bavail * stats.bsize };
  } catch {
    return undefined;
  }
}
