/**
 * Child process of the shared Raft log's crash test: appends to many groups from concurrent
 * writers and prints `ack GROUP FIRST LAST TERM` once an append is durable. Now and then it
 * rewrites a group's last entry with a higher term (a conflicting suffix) and compacts behind the
 * log. Small segments make rotations and segment deletions frequent, so kills land inside them.
 * The parent SIGKILLs it at a random moment.
 */
import { realFs } from '../../../storage/fs.ts';
import { simpleConfState } from '../../types.ts';
import { RaftLogEngine } from '../engine.ts';
import { makeEntries } from '../logstore.test-support.ts';

const dir = process.argv[2];
const groups = Number(process.argv[3] ?? '32');
if (dir === undefined) throw new Error('usage: crash-writer DIR GROUPS');

const engine = await RaftLogEngine.open(realFs, dir, { segmentBytesMax: 64 * 1024, cacheBytesMax: 32 * 1024 });
for (let g = 1; g <= groups; g++) {
  if (!engine.hasGroup(g)) await engine.createGroup(g, simpleConfState([1, 2, 3]));
}
process.stdout.write('ready\n');

const writers = 8;
async function writer(w: number): Promise<void> {
  for (let n = 0; ; n++) {
    for (let g = 1 + w; g <= groups; g += writers) {
      const storage = engine.storageFor(g);
      const last = storage.lastIndex();
      const lastTerm = storage.term(last);
      // Every 13th step replaces the last entry (when there is one) with a higher term.
      const conflict = n % 13 === 5 && last >= storage.firstIndex();
      const first = conflict ? last : last + 1;
      const term = conflict ? lastTerm + 1 : Math.max(lastTerm, 1);
      const entries = makeEntries(g, first, 1 + (n % 3), term, 64 + ((g * 31 + n) % 200));
      await engine.append(g, entries, { term, vote: 1, commit: Math.max(1, first - 1) });
      process.stdout.write(`ack ${g} ${first} ${first + entries.length - 1} ${term}\n`);
      if (n % 7 === 3 && storage.lastIndex() - storage.firstIndex() > 40) {
        const index = storage.lastIndex() - 20;
        await engine.createSnapshot(g, index, simpleConfState([1, 2, 3]), `snap-${index}`);
      }
    }
  }
}
await Promise.all(Array.from({ length: writers }, (_, w) => writer(w)));
