import { describe, expect, it } from 'vitest';
import { decodeCommand, encodeCommand, type Command } from './command.ts';

const u32 = (n: number): number[] => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const u64 = (n: bigint): number[] => Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(8 * (7 - i))) & 0xffn));
const chunk = (text: string): number[] => [...u32(Buffer.byteLength(text)), ...Buffer.from(text)];

describe('KV write command format', () => {
  // The bytes are what Raft logs on disk and peers on older builds hold: the encoder that
  // writes them in one pass must produce exactly the layout the decoder (and every build) reads.
  const put: Command = { op: 'put', key: Buffer.from('k1'), value: Buffer.from('value'), ts: 0x0102030405060708n };
  const putBytes = [1, ...chunk('k1'), ...chunk('value'), ...u64(0x0102030405060708n)];
  const del: Command = { op: 'delete', key: Buffer.from('gone') };
  const delBytes = [2, ...chunk('gone'), ...u64(0n)];
  const casAbsent: Command = { op: 'cas', key: Buffer.from('c'), expected: null, value: Buffer.from(''), ts: 7n };
  const casAbsentBytes = [3, ...chunk('c'), 0, ...chunk(''), ...u64(7n)];
  const casExpected: Command = { op: 'cas', key: Buffer.from('c'), expected: Buffer.from('old'), value: Buffer.from('new'), ts: 0xffff_ffff_ffff_ffffn };
  const casExpectedBytes = [3, ...chunk('c'), 1, ...chunk('old'), ...chunk('new'), ...u64(0xffff_ffff_ffff_ffffn)];

  it('encodes put, delete and compare-and-set as op, length-prefixed fields and the stamp', () => {
    expect([...encodeCommand(put)]).toEqual(putBytes);
    expect([...encodeCommand(del)]).toEqual(delBytes);
    expect([...encodeCommand(casAbsent)]).toEqual(casAbsentBytes);
    expect([...encodeCommand(casExpected)]).toEqual(casExpectedBytes);
  });

  it('encodes a batch of writes as a count and each write length-prefixed, and decodes it back', () => {
    const batch: Command = { op: 'batch', commands: [put, del, casAbsent, casExpected] };
    const inner = [putBytes, delBytes, casAbsentBytes, casExpectedBytes];
    const expected = [5, ...u32(4), ...inner.flatMap((bytes) => [...u32(bytes.length), ...bytes])];
    const encoded = encodeCommand(batch);
    expect([...encoded]).toEqual(expected);
    expect(decodeCommand(encoded)).toEqual({ op: 'batch', commands: [put, { op: 'delete', key: Buffer.from('gone') }, casAbsent, casExpected] });
  });

  it('encodes a batch mixing writes and other commands in the same layout', () => {
    const batch: Command = { op: 'batch', commands: [put, { op: 'close-ts', ts: 9n }] };
    const closeBytes = [9, ...u64(9n)];
    expect([...encodeCommand(batch)]).toEqual([5, ...u32(2), ...u32(putBytes.length), ...putBytes, ...u32(closeBytes.length), ...closeBytes]);
    expect(decodeCommand(encodeCommand(batch))).toEqual(batch);
  });

  it('refuses a timestamp beyond 64 bits', () => {
    expect(() => encodeCommand({ op: 'put', key: Buffer.from('k'), value: Buffer.from('v'), ts: 1n << 64n })).toThrow(/64 bits/);
    expect(() => encodeCommand({ op: 'batch', commands: [{ op: 'delete', key: Buffer.from('k'), ts: -1n }] })).toThrow(/64 bits/);
  });
});
