/**
 * Parsers for the recorded histories in ../shared/fixtures/linearizability: Jepsen logs of etcd
 * (a register) and EDN-like key-value histories. Parsing is pure (text in, operations out);
 * the loaders at the end read the fixture files.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { assert } from '../../datanode/src/assert.ts';
import type { Operation } from './checker.ts';
import { HistoryRecorder, type InvocationHandle } from './history.ts';
import type { AppendKvInput, AppendKvOutput, RegisterInput, RegisterOutput, RegisterValue } from './models.ts';

// ---------------------------------------------------------------------------------------------
// A small reader for the EDN subset the fixtures use

/** An EDN value: nil, booleans, integers, strings, keywords (`:name`), vectors and maps. */
export type EdnValue =
  | null
  | boolean
  | number
  | string
  | { readonly keyword: string }
  | readonly EdnValue[]
  | ReadonlyMap<string, EdnValue>;

const ednInputLengthMax = 1_000_000;

class EdnReader {
  private position = 0;
  constructor(private readonly text: string) {}

  readOnly(): EdnValue {
    const value = this.readValue();
    this.skipSpace();
    assert(this.position === this.text.length, `trailing text after EDN value: ${this.text.slice(this.position)}`);
    return value;
  }

  private skipSpace(): void {
    while (this.position < this.text.length && /[\s,]/.test(this.text.charAt(this.position))) this.position++;
  }

  private readValue(): EdnValue {
    this.skipSpace();
    const first = this.text.charAt(this.position);
    if (first === '[') return this.readSequence(']');
    if (first === '(') return this.readSequence(')');
    if (first === '{') return this.readMap();
    if (first === '"') return this.readString();
    const token = /^[^\s,[\](){}"]+/.exec(this.text.slice(this.position))?.[0];
    assert(token !== undefined, `unexpected EDN text at ${this.position}: ${this.text.slice(this.position, this.position + 20)}`);
    this.position += token.length;
    if (token === 'nil') return null;
    if (token === 'true' || token === 'false') return token === 'true';
    if (token.startsWith(':')) return { keyword: token.slice(1) };
    assert(/^-?\d+$/.test(token), `unsupported EDN token ${token}`);
    const value = Number(token);
    assert(Number.isSafeInteger(value), `integer ${token} is beyond 2^53`);
    return value;
  }

  private readSequence(close: string): EdnValue[] {
    this.position++;
    const items: EdnValue[] = [];
    for (;;) {
      this.skipSpace();
      assert(this.position < this.text.length, 'unterminated EDN sequence');
      if (this.text.charAt(this.position) === close) break;
      items.push(this.readValue());
    }
    this.position++;
    return items;
  }

  private readMap(): Map<string, EdnValue> {
    const items = this.readSequence('}');
    assert(items.length % 2 === 0, 'EDN map with an odd number of forms');
    const map = new Map<string, EdnValue>();
    for (let index = 0; index < items.length; index += 2) {
      const key = items[index];
      assert(isKeyword(key), 'EDN map keys must be keywords');
      map.set(key.keyword, items[index + 1] ?? null);
    }
    return map;
  }

  private readString(): string {
    let value = '';
    this.position++;
    for (;;) {
      assert(this.position < this.text.length, 'unterminated EDN string');
      const char = this.text.charAt(this.position++);
      if (char === '"') return value;
      if (char !== '\\') {
        value += char;
        continue;
      }
      const escaped = this.text.charAt(this.position++);
      const escapes: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\' };
      const replacement = escapes[escaped];
      assert(replacement !== undefined, `unsupported EDN escape \\${escaped}`);
      value += replacement;
    }
  }
}

function isKeyword(value: EdnValue | undefined): value is { readonly keyword: string } {
  return typeof value === 'object' && value !== null && 'keyword' in value;
}

/** Parses one EDN value (the whole text). Throws an AssertionError on malformed input. */
export function parseEdn(text: string): EdnValue {
  assert(text.length <= ednInputLengthMax, 'EDN text too long');
  return new EdnReader(text).readOnly();
}

function keywordName(value: EdnValue | undefined, what: string): string {
  assert(isKeyword(value), `${what} must be a keyword`);
  return value.keyword;
}

// ---------------------------------------------------------------------------------------------
// Turning Jepsen-style events into operations

type EventType = 'invoke' | 'ok' | 'fail' | 'info';

function eventType(name: string): EventType {
  assert(name === 'invoke' || name === 'ok' || name === 'fail' || name === 'info', `unknown event type :${name}`);
  return name;
}

/**
 * Pairs invocations and completions by process, through a HistoryRecorder whose clock is the
 * event's position: `:ok` completes, `:fail` means it did not happen, `:info` (and an invocation
 * never completed) means unknown. `complete` turns an `:ok` event into an output, or returns
 * `'did-not-happen'` for completions that carry no effect (for example a failed read).
 */
class JepsenPairing<I, O> {
  private readonly recorder = new HistoryRecorder<I, O>();
  private readonly pending = new Map<number, { handle: InvocationHandle; input: I }>();

  invoke(process: number, input: I): void {
    this.pending.set(process, { handle: this.recorder.invoke(process, input), input });
  }

  /** The input of the process's pending invocation. */
  inputOf(process: number): I {
    const invocation = this.pending.get(process);
    assert(invocation !== undefined, `process ${process} completed without an invocation`);
    return invocation.input;
  }

  complete(process: number, result: { kind: 'ok'; output: O } | { kind: 'fail' } | { kind: 'info' }): void {
    const invocation = this.pending.get(process);
    assert(invocation !== undefined, `process ${process} completed without an invocation`);
    this.pending.delete(process);
    if (result.kind === 'ok') this.recorder.ok(invocation.handle, result.output);
    else if (result.kind === 'fail') this.recorder.fail(invocation.handle);
    else this.recorder.unknown(invocation.handle);
  }

  toOperations(): Operation<I, O>[] {
    return this.recorder.toOperations();
  }
}

// ---------------------------------------------------------------------------------------------
// etcd Jepsen logs: a register

const jepsenLinePattern = /^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(\w+)\s+:(\w+)\s+(.*?)\s*$/;

function registerValue(value: EdnValue): RegisterValue {
  assert(value === null || typeof value === 'number' || typeof value === 'string', 'register values are nil, integers or strings');
  return value;
}

function registerInput(f: string, value: EdnValue): RegisterInput {
  if (f === 'read') return { kind: 'read' };
  if (f === 'write') return { kind: 'write', value: registerValue(value) };
  assert(f === 'cas', `unknown register operation :${f}`);
  assert(Array.isArray(value) && value.length === 2, 'cas takes [expected next]');
  return { kind: 'cas', expected: registerValue(value[0] ?? null), next: registerValue(value[1] ?? null) };
}

/**
 * Parses a Jepsen etcd log (lines `INFO  jepsen.util - <process> :<type> :<f> <value>`; other
 * lines are ignored). `:fail :cas` is an observed failure (the value did not match); a failed
 * read or write did not happen; `:info` is an unknown outcome.
 */
export function parseJepsenRegisterLog(text: string): Operation<RegisterInput, RegisterOutput>[] {
  const pairing = new JepsenPairing<RegisterInput, RegisterOutput>();
  for (const line of text.split('\n')) {
    const match = jepsenLinePattern.exec(line);
    if (match === null) continue;
    const [, processText = '', typeText = '', f = '', valueText = ''] = match;
    const process = Number(processText);
    const type = eventType(typeText);
    const value = parseEdn(valueText);
    if (type === 'invoke') {
      pairing.invoke(process, registerInput(f, value));
    } else if (type === 'info') {
      pairing.complete(process, { kind: 'info' });
    } else if (type === 'fail') {
      const input = pairing.inputOf(process);
      const observedMismatch = input.kind === 'cas';
      pairing.complete(process, observedMismatch ? { kind: 'ok', output: { kind: 'cas', ok: false } } : { kind: 'fail' });
    } else {
      pairing.complete(process, { kind: 'ok', output: registerOutput(pairing.inputOf(process), value) });
    }
  }
  return pairing.toOperations();
}

function registerOutput(input: RegisterInput, value: EdnValue): RegisterOutput {
  switch (input.kind) {
    case 'read':
      return { kind: 'read', value: registerValue(value) };
    case 'write':
      return { kind: 'write' };
    case 'cas':
      return { kind: 'cas', ok: true };
  }
}

// ---------------------------------------------------------------------------------------------
// kv histories: get / put / append

function appendKvInput(f: string, key: string, value: EdnValue): AppendKvInput {
  if (f === 'get') return { kind: 'get', key };
  assert(typeof value === 'string', `:${f} needs a string value`);
  if (f === 'put') return { kind: 'put', key, value };
  assert(f === 'append', `unknown kv operation :${f}`);
  return { kind: 'append', key, value };
}

function appendKvOutput(input: AppendKvInput, value: EdnValue): AppendKvOutput {
  if (input.kind !== 'get') return { kind: input.kind };
  // A get of a never-written key answers "" in this model; accept nil as the same.
  assert(value === null || typeof value === 'string', 'get answers a string');
  return { kind: 'get', value: value ?? '' };
}

/** Parses EDN-like lines `{:process P, :type T, :f F, :key "K", :value V}`; blank lines ignored. */
export function parseKvHistory(text: string): Operation<AppendKvInput, AppendKvOutput>[] {
  const pairing = new JepsenPairing<AppendKvInput, AppendKvOutput>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const event = parseEdn(line);
    assert(event instanceof Map, 'each kv line is a map');
    const process = event.get('process');
    assert(typeof process === 'number', ':process must be an integer');
    const type = eventType(keywordName(event.get('type'), ':type'));
    const value = event.get('value') ?? null;
    if (type === 'invoke') {
      const key = event.get('key');
      assert(typeof key === 'string', ':key must be a string');
      pairing.invoke(process, appendKvInput(keywordName(event.get('f'), ':f'), key, value));
    } else if (type === 'ok') {
      pairing.complete(process, { kind: 'ok', output: appendKvOutput(pairing.inputOf(process), value) });
    } else {
      pairing.complete(process, { kind: type });
    }
  }
  return pairing.toOperations();
}

// ---------------------------------------------------------------------------------------------
// Fixture locations and loaders

/** The repository root (this file lives in <root>/test/lin). */
export function repositoryRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
}

/** ../shared/fixtures/linearizability beside the repository (as on our machines and in CI). */
export function linearizabilityFixturesDir(): string {
  return path.resolve(repositoryRoot(), '../shared/fixtures/linearizability');
}

export type ExpectedVerdict = 'linearizable' | 'not-linearizable';

/** Parses EXPECTED.tsv: `<file>\t<verdict>` per line. */
export function parseExpectedVerdicts(text: string): Map<string, ExpectedVerdict> {
  const verdicts = new Map<string, ExpectedVerdict>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const [file = '', verdict = ''] = line.trim().split('\t');
    assert(verdict === 'linearizable' || verdict === 'not-linearizable', `bad verdict for ${file}: ${verdict}`);
    verdicts.set(file, verdict);
  }
  return verdicts;
}

export function readFixture(...relativePath: string[]): string {
  return readFileSync(path.join(linearizabilityFixturesDir(), ...relativePath), 'utf8');
}

export function listFixtures(directory: string): string[] {
  return readdirSync(path.join(linearizabilityFixturesDir(), directory)).sort();
}
