#!/usr/bin/env node
/**
 * phantomdb-node: the data node program. Subcommands grow with the project; each has --help.
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { verifyDataDir } from './storage/verify.ts';
import { runLocalDemo } from './local.ts';
import { runStart, startUsage } from './node/start.ts';
import { binaryVersion } from './version/binary.ts';
import { runnableRange } from './version/version.ts';

const usage = `phantomdb-node — PhantomDB data node

Usage:
  phantomdb-node verify --data-dir DIR   check every checksum of a (stopped) node's data directory
  phantomdb-node start [OPTIONS]         run a replicated data node (see start --help)
  phantomdb-node start-local [--dir DIR] bring up what exists of a local PhantomDB and check it works
  phantomdb-node --version               the binary version and the cluster versions it runs
  phantomdb-node --help                  this text

Run "phantomdb-node COMMAND --help" for a command's options.`;

const commands: Record<string, (args: string[]) => Promise<number>> = {
  async verify(args) {
    const { values } = parseArgs({ args, options: { 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
    if (values.help) {
      console.log(`Usage: phantomdb-node verify --data-dir DIR

Reads the manifest, every SSTable block and every WAL record of the data directory DIR and checks
their checksums, without changing anything. Stop the node first. Exits 0 when everything is
intact, 1 when a problem was found (each printed with its file and byte offset), 2 on bad usage.`);
      return 0;
    }
    const dir = values['data-dir'];
    if (dir === undefined) {
      console.error('phantomdb-node verify: --data-dir DIR is required (see --help)');
      return 2;
    }
    const report = verifyDataDir(path.resolve(dir), (line) => console.log(line));
    if (report.problems.length === 0) {
      console.log(`ok: ${report.tables} tables (${report.blocks} blocks), ${report.walFiles} WAL files (${report.walRecords} records), manifest ${report.manifest}: all checksums match`);
      return 0;
    }
    for (const p of report.problems) console.error(`CORRUPT ${p.file} at offset ${p.offset}: ${p.detail}`);
    console.error(`${report.problems.length} problem(s) found`);
    return 1;
  },
  async start(args) {
    if (args.includes('--help') || args.includes('-h')) {
      console.log(startUsage);
      return 0;
    }
    return runStart(args);
  },
  async 'start-local'(args) {
    const { values } = parseArgs({ args, options: { dir: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
    if (values.help) {
      console.log(`Usage: phantomdb-node start-local [--dir DIR]

Brings up what exists of a local PhantomDB (today: the storage engine in DIR, default
.phantomdb/local), runs a short write/read/restart check with progress output, and prints the
engine's statistics.`);
      return 0;
    }
    return runLocalDemo(path.resolve(values.dir ?? '.phantomdb/local'));
  },
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(usage);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === 'version') {
    const binary = binaryVersion();
    console.log(`phantomdb-node ${binary.version} (runs cluster versions ${runnableRange(binary)})`);
    return 0;
  }
  const run = commands[command];
  if (run === undefined) {
    console.error(`phantomdb-node: unknown command ${JSON.stringify(command)}\n\n${usage}`);
    return 2;
  }
  try {
    return await run(rest);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    console.error(`phantomdb-node ${command}: ${err instanceof Error ? err.message : String(err)}${typeof code === 'string' ? ` (${code})` : ''}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
