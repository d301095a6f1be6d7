import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DbIterator } from './db-iterator.ts';
import { InvalidArgumentError } from './errors.ts';
import { ValueKind } from './keys.ts';
import { Memtable } from './memtable.ts';
import {
  decodeMvccKey,
  encodeMvccKey,
  mvccKeyPrefix,
  mvccPrefixLength,
  mvccTimestamp,
  mvccTimestampMax,
  seekNewestAtOrBelow,
} from './mvcc.ts';
import { propertyRuns } from './iterator-model.test-support.ts';

/** Keys rich in the bytes the escaping cares about. */
const rawKeyArbitrary = fc
  .array(fc.constantFrom(0x00, 0x01, 0x02, 0x7f, 0xfe, 0xff), { maxLength: 8 })
  .map((bytes) => Buffer.from(bytes));
const tsArbitrary = fc.oneof(
  fc.bigInt({ min: 0n, max: 5n }),
  fc.bigInt({ min: 0n, max: mvccTimestampMax }),
  fc.constant(mvccTimestampMax),
);

/** The intended order: key ascending bytewise, then timestamp descending. */
function compareVersions(a: { key: Buffer; ts: bigint }, b: { key: Buffer; ts: bigint }): number {
  const byKey = a.key.compare(b.key);
  if (byKey !== 0) return byKey;
  return a.ts === b.ts ? 0 : a.ts > b.ts ? -1 : 1;
}

describe('MVCC key encoding', () => {
  it('round-trips and exposes the key prefix and timestamp', () => {
    fc.assert(
      fc.property(rawKeyArbitrary, tsArbitrary, (key, ts) => {
        const encoded = encodeMvccKey(key, ts);
        const decoded = decodeMvccKey(encoded);
        expect(decoded.key.equals(key)).toBe(true);
        expect(decoded.ts).toBe(ts);
        const prefix = mvccKeyPrefix(key);
        expect(encoded.subarray(0, prefix.length).equals(prefix)).toBe(true);
        expect(mvccPrefixLength(encoded)).toBe(prefix.length);
        expect(mvccTimestamp(encoded)).toBe(ts);
      }),
      { numRuns: propertyRuns * 4 },
    );
  });

  it('sorts encodings by (key ascending, ts descending)', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ key: rawKeyArbitrary, ts: tsArbitrary }), { maxLength: 40 }), (versions) => {
        const byEncoding = [...versions]
          .map((v) => ({ ...v, encoded: encodeMvccKey(v.key, v.ts) }))
          .sort((a, b) => a.encoded.compare(b.encoded));
        const byIntent = [...versions].sort(compareVersions);
        const show = (v: { key: Buffer; ts: bigint }): string => `${v.key.toString('hex')}@${v.ts}`;
        expect(byEncoding.map(show)).toEqual(byIntent.map(show));
      }),
      { numRuns: propertyRuns * 2 },
    );
  });

  it('either decodes arbitrary bytes to a key that re-encodes identically, or throws InvalidArgumentError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (bytes) => {
        const buffer = Buffer.from(bytes);
        let decoded;
        try {
          decoded = decodeMvccKey(buffer);
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidArgumentError);
          return;
        }
        expect(encodeMvccKey(decoded.key, decoded.ts).equals(buffer)).toBe(true);
      }),
      { numRuns: propertyRuns * 4 },
    );
    expect(() => decodeMvccKey(Buffer.from([0x61, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0]))).toThrow(InvalidArgumentError);
    expect(() => decodeMvccKey(Buffer.from([0x61, 0x00, 0x01, 0, 0]))).toThrow(InvalidArgumentError);
    expect(() => mvccPrefixLength(Buffer.from([0x61, 0x62]))).toThrow(InvalidArgumentError);
  });

  it('rejects timestamps outside the unsigned 64-bit range', () => {
    expect(() => encodeMvccKey(Buffer.from('k'), -1n)).toThrow(InvalidArgumentError);
    expect(() => encodeMvccKey(Buffer.from('k'), mvccTimestampMax + 1n)).toThrow(InvalidArgumentError);
  });

  it('finds the newest version at or below a timestamp with one seek through a DbIterator', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ key: rawKeyArbitrary, ts: fc.bigInt({ min: 0n, max: 20n }), deleted: fc.boolean() }), {
          maxLength: 60,
        }),
        fc.array(fc.record({ key: rawKeyArbitrary, ts: fc.bigInt({ min: 0n, max: 22n }) }), { maxLength: 30 }),
        (writes, queries) => {
          // Each write stores one version (or deletes that stored version, at storage level).
          const table = new Memtable();
          const live = new Map<string, bigint>();
          writes.forEach((write, i) => {
            const encoded = encodeMvccKey(write.key, write.ts);
            const id = `${write.key.toString('hex')}@${write.ts}`;
            table.add(encoded, i + 1, write.deleted ? ValueKind.Delete : ValueKind.Put, Buffer.from(id));
            if (write.deleted) live.delete(id);
            else live.set(id, write.ts);
          });
          const iterator = new DbIterator(table.iterator(), writes.length);
          for (const { key, ts } of queries) {
            let expected: bigint | undefined;
            for (const [id, versionTs] of live) {
              if (id.startsWith(`${key.toString('hex')}@`) && versionTs <= ts && (expected === undefined || versionTs > expected)) {
                expected = versionTs;
              }
            }
            const found = seekNewestAtOrBelow(iterator, key, ts);
            expect(found).toBe(expected);
            if (found !== undefined) expect(iterator.value().toString()).toBe(`${key.toString('hex')}@${found}`);
          }
        },
      ),
      { numRuns: propertyRuns },
    );
  });
});
