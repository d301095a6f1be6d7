import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CorruptionError, InvalidArgumentError } from './errors.ts';
import { WriteBatch, WriteOpKind, decodeWriteBatch, writeBatchHeaderBytes, type WriteOp } from './write-batch.ts';

const propertyRuns = Number(process.env['PROPERTY_RUNS'] ?? 200);

type OpSpec =
  | { readonly kind: 'put'; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly kind: 'del'; readonly key: Uint8Array }
  | { readonly kind: 'delRange'; readonly start: Uint8Array; readonly end: Uint8Array };

function build(specs: readonly OpSpec[]): WriteBatch {
  const batch = new WriteBatch();
  for (const spec of specs) {
    if (spec.kind === 'put') batch.put(spec.key, spec.value);
    else if (spec.kind === 'del') batch.del(spec.key);
    else batch.delRange(spec.start, spec.end);
  }
  return batch;
}

function expected(specs: readonly OpSpec[], firstSeq: number): WriteOp[] {
  return specs.map((spec, i): WriteOp => {
    const seq = firstSeq + i;
    if (spec.kind === 'put') return { kind: 'put', key: Buffer.from(spec.key), value: Buffer.from(spec.value), seq };
    if (spec.kind === 'del') return { kind: 'del', key: Buffer.from(spec.key), seq };
    return { kind: 'delRange', start: Buffer.from(spec.start), end: Buffer.from(spec.end), seq };
  });
}

function invalidArgumentMessage(buf: Buffer): string {
  try {
    decodeWriteBatch(buf);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return (err as InvalidArgumentError).message;
  }
  throw new Error('expected the batch to be rejected');
}

describe('WriteBatch', () => {
  it('round-trips puts, deletions and range deletions with empty and binary keys and values', () => {
    const specs: OpSpec[] = [
      { kind: 'put', key: Buffer.alloc(0), value: Buffer.alloc(0) },
      { kind: 'put', key: Buffer.from([0, 255, 1, 128]), value: Buffer.alloc(300, 0x80) },
      { kind: 'del', key: Buffer.from('gone') },
      { kind: 'del', key: Buffer.alloc(0) },
      { kind: 'delRange', start: Buffer.alloc(0), end: Buffer.from([0]) },
      { kind: 'put', key: Buffer.alloc(20_000, 7), value: Buffer.from('v') },
    ];
    const batch = build(specs);
    expect(batch.count).toBe(6);
    const encoded = batch.encode(1000);
    expect(encoded.length).toBe(batch.byteSize);
    const decoded = decodeWriteBatch(Buffer.from(encoded));
    expect(decoded.firstSeq).toBe(1000);
    expect(decoded.count).toBe(6);
    expect(decoded.nextSeq).toBe(1006);
    expect(decoded.ops()).toEqual(expected(specs, 1000));
  });

  it('hands out views of the encoded buffer rather than copies', () => {
    const batch = new WriteBatch();
    batch.put(Buffer.from('k'), Buffer.from('v'));
    const encoded = Buffer.from(batch.encode(1));
    const [op] = decodeWriteBatch(encoded).ops();
    expect(op?.kind).toBe('put');
    if (op?.kind !== 'put') return;
    expect(op.key.buffer).toBe(encoded.buffer);
    expect(op.value.buffer).toBe(encoded.buffer);
  });

  it('accounts bytes and counts exactly, and encodes an empty batch as a bare header', () => {
    const batch = new WriteBatch();
    expect(batch.byteSize).toBe(writeBatchHeaderBytes);
    expect(batch.count).toBe(0);
    expect(decodeWriteBatch(batch.encode(5)).ops()).toEqual([]);
    batch.put(Buffer.alloc(3), Buffer.alloc(200)); // 1 + 1 + 3 + 2 + 200
    expect(batch.byteSize).toBe(writeBatchHeaderBytes + 207);
    batch.del(Buffer.alloc(128)); // 1 + 2 + 128
    expect(batch.byteSize).toBe(writeBatchHeaderBytes + 207 + 131);
    batch.delRange(Buffer.from('a'), Buffer.from('b')); // 1 + 1 + 1 + 1 + 1
    expect(batch.byteSize).toBe(writeBatchHeaderBytes + 207 + 131 + 5);
    expect(batch.count).toBe(3);
    batch.clear();
    expect(batch.byteSize).toBe(writeBatchHeaderBytes);
    expect(batch.count).toBe(0);
  });

  it('carries sequence numbers up to just below 2^53 and asserts beyond', () => {
    const batch = new WriteBatch();
    batch.del(Buffer.from('a'));
    batch.del(Buffer.from('b'));
    const firstSeq = Number.MAX_SAFE_INTEGER - 2;
    const ops = decodeWriteBatch(batch.encode(firstSeq)).ops();
    expect(ops.map((op) => op.seq)).toEqual([firstSeq, firstSeq + 1]);
    expect(() => batch.encode(Number.MAX_SAFE_INTEGER - 1)).toThrow(/2\^53/);
    expect(() => batch.encode(-1)).toThrow(/negative/);
  });

  it('rejects a range deletion unless start < end', () => {
    const batch = new WriteBatch();
    expect(() => batch.delRange(Buffer.from('b'), Buffer.from('b'))).toThrow(InvalidArgumentError);
    expect(() => batch.delRange(Buffer.from('b'), Buffer.from('a'))).toThrow(InvalidArgumentError);
    expect(() => batch.delRange(Buffer.from('ab'), Buffer.from('a'))).toThrow(InvalidArgumentError);
    expect(batch.count).toBe(0);
  });

  it('enforces batchBytesMax and leaves the batch unchanged when an op does not fit', () => {
    const batch = new WriteBatch({ batchBytesMax: 100 });
    batch.put(Buffer.alloc(10), Buffer.alloc(70)); // 12 + 83 = 95 bytes
    expect(() => batch.put(Buffer.alloc(1), Buffer.alloc(2))).toThrow(InvalidArgumentError);
    expect(() => batch.delRange(Buffer.from('a'), Buffer.from('bc'))).toThrow(InvalidArgumentError); // 6 bytes -> 101
    expect(batch.byteSize).toBe(95);
    batch.del(Buffer.alloc(2)); // 1 + 1 + 2 = 4 -> 99
    expect(batch.byteSize).toBe(99);
    expect(decodeWriteBatch(batch.encode(1)).count).toBe(2);
    expect(() => new WriteBatch({ batchBytesMax: 5 })).toThrow(/batchBytesMax/);
  });

  it('encodes the same bytes whatever size it expected, grows past the hint and caps it at batchBytesMax', () => {
    const fill = (batch: WriteBatch): Buffer => {
      for (let i = 0; i < 40; i++) batch.put(Buffer.from(`key-${i}`), Buffer.alloc(i * 7, i));
      batch.del(Buffer.from('gone'));
      return Buffer.from(batch.encode(5));
    };
    const plain = fill(new WriteBatch());
    expect(fill(new WriteBatch({ expectedBytes: 100 }))).toEqual(plain);
    expect(fill(new WriteBatch({ expectedBytes: plain.length }))).toEqual(plain);
    expect(fill(new WriteBatch({ expectedBytes: 10 * plain.length }))).toEqual(plain);
    const capped = new WriteBatch({ batchBytesMax: 100, expectedBytes: 1e9 });
    capped.put(Buffer.alloc(10), Buffer.alloc(70));
    expect(() => capped.put(Buffer.alloc(1), Buffer.alloc(2))).toThrow(InvalidArgumentError);
    expect(decodeWriteBatch(capped.encode(1)).count).toBe(1);
  });

  it('appends one batch to another with continuing sequence numbers', () => {
    const first = build([{ kind: 'put', key: Buffer.from('a'), value: Buffer.from('1') }]);
    const second = build([
      { kind: 'del', key: Buffer.from('b') },
      { kind: 'delRange', start: Buffer.from('c'), end: Buffer.from('d') },
    ]);
    first.append(second);
    expect(first.count).toBe(3);
    expect(decodeWriteBatch(first.encode(10)).ops()).toEqual([
      { kind: 'put', key: Buffer.from('a'), value: Buffer.from('1'), seq: 10 },
      { kind: 'del', key: Buffer.from('b'), seq: 11 },
      { kind: 'delRange', start: Buffer.from('c'), end: Buffer.from('d'), seq: 12 },
    ]);
  });
});

describe('decodeWriteBatch on malformed input', () => {
  const valid = (): Buffer => {
    const batch = new WriteBatch();
    batch.put(Buffer.from('key'), Buffer.from('value'));
    batch.del(Buffer.from('k2'));
    return Buffer.from(batch.encode(7));
  };

  it('rejects a short header', () => {
    expect(invalidArgumentMessage(Buffer.alloc(11))).toMatch(/shorter than the 12-byte header/);
  });

  it('rejects an unknown op kind at its byte', () => {
    const buf = valid();
    buf[writeBatchHeaderBytes] = 9;
    expect(invalidArgumentMessage(buf)).toMatch(/at byte 12: op 0 of 2: unknown op kind 9/);
  });

  it('rejects a count larger or smaller than the ops present', () => {
    const more = valid();
    more.writeUInt32LE(3, 8);
    expect(invalidArgumentMessage(more)).toMatch(/op 2 of 3: op missing/);
    const fewer = valid();
    fewer.writeUInt32LE(1, 8);
    expect(invalidArgumentMessage(fewer)).toMatch(/bytes follow the 1 ops/);
  });

  it('rejects lengths running past the end, overlong varints and trailing bytes', () => {
    const long = valid();
    long[writeBatchHeaderBytes + 1] = 100; // key length
    expect(invalidArgumentMessage(long)).toMatch(/length 100 runs past the end/);
    const overlong = Buffer.concat([valid().subarray(0, 12), Buffer.from([WriteOpKind.Delete, 0x80, 0x80, 0x80, 0x80, 0x80, 0])]);
    overlong.writeUInt32LE(1, 8);
    expect(invalidArgumentMessage(overlong)).toMatch(/longer than 5 bytes/);
    expect(invalidArgumentMessage(Buffer.concat([valid(), Buffer.from([0])]))).toMatch(/1 bytes follow/);
  });

  it('rejects an encoded range deletion with start >= end', () => {
    const batch = new WriteBatch();
    batch.delRange(Buffer.from('a'), Buffer.from('b'));
    const buf = Buffer.from(batch.encode(1));
    buf[buf.length - 1] = 'a'.charCodeAt(0);
    expect(invalidArgumentMessage(buf)).toMatch(/start >= end/);
  });

  it('rejects sequence numbers reaching 2^53', () => {
    const buf = valid();
    buf.writeUInt32LE(0x200000, 4); // firstSeq = 2^53
    expect(invalidArgumentMessage(buf)).toMatch(/2\^53/);
  });

  it('reports corruption at the file offset when told where the batch came from', () => {
    const buf = valid();
    buf[writeBatchHeaderBytes] = 9;
    try {
      decodeWriteBatch(buf, { file: 'wal-000003.log', offset: 1000 });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(CorruptionError);
      expect((err as CorruptionError).file).toBe('wal-000003.log');
      expect((err as CorruptionError).offset).toBe(1012);
    }
  });
});

describe('WriteBatch properties', () => {
  const bytes = fc.uint8Array({ maxLength: 200 });
  const opSpec: fc.Arbitrary<OpSpec> = fc.oneof(
    fc.record({ kind: fc.constant('put' as const), key: bytes, value: fc.uint8Array({ maxLength: 20_000 }) }),
    fc.record({ kind: fc.constant('del' as const), key: bytes }),
    fc
      .tuple(bytes, bytes)
      .filter(([a, b]) => Buffer.compare(a, b) !== 0)
      .map(([a, b]): OpSpec => (Buffer.compare(a, b) < 0 ? { kind: 'delRange', start: a, end: b } : { kind: 'delRange', start: b, end: a })),
  );
  const seq = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 1000 });

  it('decodes exactly what was encoded, with byteSize equal to the encoded length', () => {
    fc.assert(
      fc.property(fc.array(opSpec, { maxLength: 40 }), seq, (specs, firstSeq) => {
        const batch = build(specs);
        const encoded = batch.encode(firstSeq);
        expect(encoded.length).toBe(batch.byteSize);
        expect(batch.count).toBe(specs.length);
        const decoded = decodeWriteBatch(encoded);
        expect(decoded.firstSeq).toBe(firstSeq);
        expect(decoded.ops()).toEqual(expected(specs, firstSeq));
      }),
      { numRuns: propertyRuns },
    );
  });

  it('rejects every strict prefix of an encoding', () => {
    fc.assert(
      fc.property(fc.array(opSpec, { minLength: 1, maxLength: 5 }), seq, (specs, firstSeq) => {
        const encoded = build(specs).encode(firstSeq);
        for (let length = 0; length < encoded.length; length++) {
          expect(() => decodeWriteBatch(encoded.subarray(0, length))).toThrow(InvalidArgumentError);
        }
      }),
      { numRuns: Math.ceil(propertyRuns / 4) },
    );
  });
});
