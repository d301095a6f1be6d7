// Runs the golden interaction scripts in testdata/*.txt. Each block is a command line, "----",
// and the expected trace (no blank lines), ended by a blank line. Regenerate with REWRITE=1
// and review the diff: the traces are the specification.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Interaction, parseCommand } from './interaction.ts';

const directory = new URL('./testdata/', import.meta.url);
const rewrite = process.env['REWRITE'] === '1';

interface Block {
  readonly before: string[];
  readonly commandLine: string;
  readonly lineNumber: number;
  readonly expected: string;
}

function parseScript(content: string): { blocks: Block[]; trailer: string[] } {
  const lines = content.split('\n');
  const blocks: Block[] = [];
  let before: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] ?? '';
    if (line.trim() === '' || line.startsWith('#')) {
      before.push(line);
      i++;
      continue;
    }
    const commandLine = line;
    const lineNumber = i + 1;
    i++;
    if ((lines[i] ?? '') !== '----') throw new Error(`line ${lineNumber + 1}: expected ----`);
    i++;
    const output: string[] = [];
    while (i < lines.length && (lines[i] ?? '') !== '') output.push(lines[i++] ?? '');
    blocks.push({ before, commandLine, lineNumber, expected: output.join('\n') });
    before = [];
  }
  return { blocks, trailer: before };
}

describe('raft datadriven interactions', () => {
  const files = readdirSync(directory).filter((f) => f.endsWith('.txt')).sort();
  for (const file of files) {
    it(file, () => {
      const url = new URL(file, directory);
      const { blocks, trailer } = parseScript(readFileSync(url, 'utf8'));
      const interaction = new Interaction();
      const out: string[] = [];
      for (const block of blocks) {
        const actual = interaction.run(parseCommand(block.commandLine, []));
        out.push(...block.before, block.commandLine, '----', actual);
        if (!rewrite) expect(actual, `${file}:${block.lineNumber}: ${block.commandLine}`).toBe(block.expected);
      }
      if (rewrite) {
        while (trailer.length > 0 && trailer[trailer.length - 1] === '') trailer.pop();
        writeFileSync(url, [...out, ...trailer, ''].join('\n'));
      }
    });
  }
});
