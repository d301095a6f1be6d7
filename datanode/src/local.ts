import { StorageEngine, WriteBatch } from './storage/engine.ts';

/**
 * A quick check of the storage engine alone (`phantomdb-node start-local`): opens the storage engine in `dir`,
 * writes and reads a batch of keys, restarts the engine and checks they survived, and prints
 * the engine's statistics. Returns the process exit code.
 */
export async function runLocalDemo(dir: string): Promise<number> {
  const say = (line: string): void => console.log(`[phantomdb] ${line}`);
  say(`storage engine at ${dir}`);
  let engine = await StorageEngine.open(dir, {}, { log: (m) => say(m) });
  const keys = 20_000;
  const started = performance.now();
  for (let i = 0; i < keys; i += 1000) {
    const batch = new WriteBatch();
    for (let j = i; j < i + 1000; j++) batch.put(Buffer.from(`demo/${String(j).padStart(8, '0')}`), Buffer.from(`value-${j}`));
    await engine.write(batch, { sync: true });
    if ((i / 1000) % 5 === 4) say(`wrote ${i + 1000}/${keys} keys (synced batches of 1,000)`);
  }
  say(`wrote ${keys} keys in ${(performance.now() - started).toFixed(0)} ms; restarting the engine`);
  await engine.close();
  engine = await StorageEngine.open(dir, {}, { log: (m) => say(m) });
  let found = 0;
  for (let j = 0; j < keys; j++) {
    if (engine.get(Buffer.from(`demo/${String(j).padStart(8, '0')}`))?.toString() === `value-${j}`) found++;
  }
  const stats = engine.stats();
  await engine.close();
  say(`after restart: ${found}/${keys} keys read back intact`);
  say(`levels: ${stats.levels.filter((l) => l.files > 0).map((l) => `L${l.level}=${l.files} files`).join(', ') || 'all data still in the memtable/WAL'}`);
  say('for a replicated cluster: npm start (through the operator) or datanode/src/node/README.md (by hand)');
  return found === keys ? 0 : 1;
}
