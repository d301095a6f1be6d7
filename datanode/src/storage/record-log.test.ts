import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CorruptionError, InvalidArgumentError, ReadOnlyError, StorageIOError } from './errors.ts';
import { FaultInjectingFs, realFs } from './fs.ts';
import { RecordLogWriter, readRecordLog, recordHeaderBytes } from './record-log.ts';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'phantomdb-record-log-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Deterministic, frame-free payload bytes (never the type byte 1, so no frame hides inside). */
function payload(length: number, salt: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = 2 + ((i * 31 + salt * 7) % 250);
  return out;
}

function writeLog(path: string, payloads: Buffer[]): number[] {
  const writer = RecordLogWriter.create(realFs, path);
  const offsets = payloads.map((p) => writer.append(p));
  writer.close();
  return offsets;
}

function corruptionOf(action: () => unknown): CorruptionError {
  try {
    action();
  } catch (err) {
    if (err instanceof CorruptionError) return err;
    throw err;
  }
  throw new Error('expected a CorruptionError, but the call succeeded');
}

describe('record log', () => {
  it('round-trips records of many sizes, including empty and binary ones', () => {
    const path = join(dir, 'log');
    const payloads = [Buffer.alloc(0), Buffer.from([0]), Buffer.from([1, 0, 0, 0]), payload(1000, 1), payload(200_000, 2), Buffer.alloc(300, 0xff)];
    const offsets = writeLog(path, payloads);
    const read = readRecordLog(realFs, path);
    // Compared as hex: element-wise deep equality of large buffers is needlessly slow.
    expect(read.records.map((r) => r.toString('hex'))).toEqual(payloads.map((p) => p.toString('hex')));
    expect(read.payloadOffsets).toEqual(offsets.map((o) => o + recordHeaderBytes));
    expect(read.tornBytes).toBe(0);
    expect(read.validEndOffset).toBe(statSync(path).size);
    expect(read.truncated).toBe(false);
  });

  it('reads an empty log as no records', () => {
    const path = join(dir, 'log');
    writeLog(path, []);
    const read = readRecordLog(realFs, path, { truncateTornTail: true });
    expect(read.records).toEqual([]);
    expect(read.validEndOffset).toBe(0);
    expect(read.tornBytes).toBe(0);
  });

  it('appends after reopening a log', () => {
    const path = join(dir, 'log');
    writeLog(path, [payload(10, 1)]);
    const writer = RecordLogWriter.openForAppend(realFs, path);
    expect(writer.size).toBe(recordHeaderBytes + 10);
    writer.append(payload(20, 2));
    writer.close();
    expect(readRecordLog(realFs, path).records).toEqual([payload(10, 1), payload(20, 2)]);
  });

  it('treats a cut at every byte of the last record as a torn tail, truncates it, and keeps earlier records', () => {
    const full = join(dir, 'full');
    const payloads = [payload(50, 1), payload(7, 2), payload(40, 3)];
    const offsets = writeLog(full, payloads);
    const bytes = readFileSync(full);
    const lastStart = offsets[2] ?? -1;
    for (let cut = lastStart; cut < bytes.length; cut++) {
      for (const zeroPadded of [false, true]) {
        // A cut file, or one whose unwritten rest reads back as zeros (a partially written page).
        const path = join(dir, `cut-${cut}-${zeroPadded}`);
        const torn = Buffer.alloc(zeroPadded ? bytes.length + 4096 : cut);
        bytes.copy(torn, 0, 0, cut);
        writeFileSync(path, torn);
        const read = readRecordLog(realFs, path, { truncateTornTail: true });
        expect(read.records).toEqual(payloads.slice(0, 2));
        expect(read.validEndOffset).toBe(lastStart);
        expect(read.tornBytes).toBe(torn.length - lastStart);
        expect(read.truncated).toBe(torn.length > lastStart);
        expect(statSync(path).size).toBe(lastStart);
        // The truncated log takes appends again.
        const writer = RecordLogWriter.openForAppend(realFs, path);
        writer.append(payload(9, 9));
        writer.close();
        expect(readRecordLog(realFs, path).records).toEqual([...payloads.slice(0, 2), payload(9, 9)]);
      }
    }
  });

  it('reports a torn tail without truncating unless asked', () => {
    const path = join(dir, 'log');
    writeLog(path, [payload(30, 1), payload(30, 2)]);
    const size = statSync(path).size;
    writeFileSync(path, readFileSync(path).subarray(0, size - 5));
    const read = readRecordLog(realFs, path);
    expect(read.records).toEqual([payload(30, 1)]);
    expect(read.tornBytes).toBe(recordHeaderBytes + 30 - 5);
    expect(read.truncated).toBe(false);
    expect(statSync(path).size).toBe(size - 5);
  });

  it('treats a zero-filled tail (preallocated space) as a torn tail', () => {
    const path = join(dir, 'log');
    writeLog(path, [payload(30, 1), payload(30, 2)]);
    const size = statSync(path).size;
    writeFileSync(path, Buffer.concat([readFileSync(path), Buffer.alloc(64 * 1024)]));
    const read = readRecordLog(realFs, path, { truncateTornTail: true });
    expect(read.records).toEqual([payload(30, 1), payload(30, 2)]);
    expect(read.tornBytes).toBe(64 * 1024);
    expect(statSync(path).size).toBe(size);
  });

  it('treats a file of only zeros as an empty log with a torn tail', () => {
    const path = join(dir, 'log');
    writeFileSync(path, Buffer.alloc(10_000));
    const read = readRecordLog(realFs, path, { truncateTornTail: true });
    expect(read.records).toEqual([]);
    expect(read.tornBytes).toBe(10_000);
    expect(statSync(path).size).toBe(0);
  });

  it('throws CorruptionError with the exact offset for a flipped byte anywhere in a middle record', () => {
    const full = join(dir, 'full');
    const offsets = writeLog(full, [payload(25, 1), payload(30, 2), payload(20, 3)]);
    const bytes = readFileSync(full);
    const middleStart = offsets[1] ?? -1;
    const middleEnd = offsets[2] ?? -1;
    for (let pos = middleStart; pos < middleEnd; pos++) {
      const path = join(dir, `flip-${pos}`);
      const damaged = Buffer.from(bytes);
      damaged[pos] = (damaged[pos] ?? 0) ^ 0x10;
      writeFileSync(path, damaged);
      const err = corruptionOf(() => readRecordLog(realFs, path, { truncateTornTail: true }));
      expect(err.code).toBe('PH_CORRUPTION');
      expect(err.file).toBe(path);
      expect(err.offset).toBe(middleStart);
      // Nothing was truncated or repaired.
      expect(readFileSync(path)).toEqual(damaged);
    }
  });

  it('throws CorruptionError for a flipped byte in the first record and for a zeroed page mid-log', () => {
    const path = join(dir, 'log');
    const offsets = writeLog(path, [payload(5000, 1), payload(5000, 2), payload(5000, 3)]);
    const bytes = readFileSync(path);
    const flipped = Buffer.from(bytes);
    flipped[3] = (flipped[3] ?? 0) ^ 1;
    writeFileSync(path, flipped);
    expect(corruptionOf(() => readRecordLog(realFs, path)).offset).toBe(0);

    const zeroed = Buffer.from(bytes);
    zeroed.fill(0, 4096, 8192); // spans the end of record 0 and the start of record 1
    writeFileSync(path, zeroed);
    expect(offsets[1]).toBeLessThan(8192);
    expect(corruptionOf(() => readRecordLog(realFs, path)).offset).toBe(0);
  });

  it('treats a flipped byte anywhere in the last record as a torn tail', () => {
    const full = join(dir, 'full');
    const payloads = [payload(25, 1), payload(30, 2)];
    const offsets = writeLog(full, payloads);
    const bytes = readFileSync(full);
    const lastStart = offsets[1] ?? -1;
    for (let pos = lastStart; pos < bytes.length; pos++) {
      const path = join(dir, `flip-${pos}`);
      const damaged = Buffer.from(bytes);
      damaged[pos] = (damaged[pos] ?? 0) ^ 0x01;
      writeFileSync(path, damaged);
      const read = readRecordLog(realFs, path, { truncateTornTail: true });
      expect(read.records).toEqual(payloads.slice(0, 1));
      expect(read.validEndOffset).toBe(lastStart);
      expect(statSync(path).size).toBe(lastStart);
    }
  });

  it('does not mistake a log embedded in a damaged last record for later records', () => {
    // A record whose payload is itself a valid log (e.g. a backed-up file stored as a value).
    const inner = join(dir, 'inner');
    writeLog(inner, [payload(40, 7), payload(40, 8)]);
    const embedded = Buffer.concat([payload(10, 1), readFileSync(inner)]);
    const path = join(dir, 'log');
    const offsets = writeLog(path, [payload(20, 1), embedded]);
    const damaged = readFileSync(path);
    const flipAt = (offsets[1] ?? -1) + recordHeaderBytes + 2; // inside the outer payload, before the inner log
    damaged[flipAt] = (damaged[flipAt] ?? 0) ^ 0x04;
    writeFileSync(path, damaged);
    const read = readRecordLog(realFs, path);
    expect(read.records).toEqual([payload(20, 1)]);
    expect(read.validEndOffset).toBe(offsets[1]);
  });

  it('rejects an oversized record without writing anything', () => {
    const path = join(dir, 'log');
    const writer = RecordLogWriter.create(realFs, path, { recordBytesMax: 100 });
    writer.append(payload(100, 1));
    const sizeBefore = writer.size;
    expect(() => writer.append(payload(101, 2))).toThrow(InvalidArgumentError);
    expect(writer.size).toBe(sizeBefore);
    writer.append(payload(3, 3));
    writer.close();
    expect(readRecordLog(realFs, path, { recordBytesMax: 100 }).records).toEqual([payload(100, 1), payload(3, 3)]);
  });

  it('refuses appends after a failed write, so a partial record is never followed by another', () => {
    const faulty = new FaultInjectingFs();
    const path = join(dir, 'log');
    const writer = RecordLogWriter.create(faulty, path);
    writer.append(payload(10, 1));
    faulty.failWhen = (operation) => (operation === 'write' ? 'ENOSPC' : undefined);
    expect(() => writer.append(payload(10, 2))).toThrow(StorageIOError);
    faulty.failWhen = () => undefined;
    expect(() => writer.append(payload(10, 3))).toThrow(ReadOnlyError);
    expect(writer.failed?.code).toBe('PH_IO');
    writer.close();
    expect(readRecordLog(realFs, path).records).toEqual([payload(10, 1)]);
  });

  it('refuses to create over an existing file and reports a missing file as an I/O error', () => {
    const path = join(dir, 'log');
    writeLog(path, []);
    expect(() => RecordLogWriter.create(realFs, path)).toThrow(StorageIOError);
    expect(() => readRecordLog(realFs, join(dir, 'missing'))).toThrow(StorageIOError);
  });
});
