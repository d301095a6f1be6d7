/**
 * The interpreter behind the datadriven scripts in testdata/*.txt: each command drives a
 * TestCluster and returns a text trace that the script records as its expected output.
 */
import { assert } from '../assert.ts';
import { describeConfChange, decodeConfChange } from './confchange.ts';
import type { ProposeResult } from './raft.ts';
import { TestCluster, bytes, text } from './testkit.ts';
import type { ConfChange, ConfChangeOp, Entry, Message, NodeId, Ready, SingleConfChange } from './types.ts';

export interface Command {
  readonly name: string;
  readonly args: readonly string[];
  /** key=value arguments. */
  readonly options: ReadonlyMap<string, string>;
  readonly input: readonly string[];
}

export function parseCommand(line: string, input: readonly string[]): Command {
  const words = line.trim().split(/\s+/);
  const name = words[0] ?? '';
  const args: string[] = [];
  const options = new Map<string, string>();
  for (const word of words.slice(1)) {
    const eq = word.indexOf('=');
    if (eq > 0) options.set(word.slice(0, eq), word.slice(eq + 1));
    else args.push(word);
  }
  return { name, args, options, input };
}

function ids(list: string | undefined): NodeId[] {
  if (list === undefined || list === '') return [];
  return list.split(',').map(Number);
}

function formatEntry(entry: Entry): string {
  if (entry.kind === 'conf-change') return `${entry.term}/${entry.index} conf(${describeConfChange(decodeConfChange(entry.data))})`;
  return `${entry.term}/${entry.index} ${JSON.stringify(text(entry.data))}`;
}

function formatEntries(entries: readonly Entry[]): string {
  return entries.map(formatEntry).join(', ');
}

export function formatMessage(message: Message): string {
  const head = `${message.from}->${message.to} ${message.kind} term=${message.term}`;
  switch (message.kind) {
    case 'Vote':
    case 'PreVote':
      return `${head} last=${message.lastLogTerm}/${message.lastLogIndex}${message.transfer ? ' transfer' : ''}`;
    case 'VoteResponse':
    case 'PreVoteResponse':
      return `${head}${message.reject ? ' REJECT' : ''}`;
    case 'Append':
      return `${head} prev=${message.prevLogTerm}/${message.prevLogIndex} commit=${message.commit} [${formatEntries(message.entries)}]`;
    case 'AppendResponse':
      return message.reject
        ? `${head} REJECT index=${message.index} hint=${message.hintTerm}/${message.hintIndex}`
        : `${head} index=${message.index}`;
    case 'Heartbeat':
      return `${head} commit=${message.commit}${message.context === '' ? '' : ` round=${message.context}`}${message.quiesce === true ? ' quiesce' : ''}`;
    case 'HeartbeatResponse':
      return `${head}${message.context === '' ? '' : ` round=${message.context}`}`;
    case 'Snapshot': {
      const snapshot = message.snapshot;
      return `${head} snapshot=${snapshot.term}/${snapshot.index} voters=(${snapshot.confState.voters.join(' ')})`;
    }
    case 'TimeoutNow':
      return head;
    case 'ReadIndex':
      return `${head} ctx=${message.context}`;
    case 'ReadIndexResponse':
      return `${head} index=${message.index} ctx=${message.context}`;
  }
}

function formatReady(id: NodeId, ready: Ready): string[] {
  const lines = [`> ${id} handling Ready`];
  if (ready.softState !== undefined) lines.push(`  soft: ${ready.softState.role} lead=${ready.softState.leaderId}`);
  if (ready.hardState !== undefined) {
    const hard = ready.hardState;
    lines.push(`  hard: term=${hard.term} vote=${hard.vote} commit=${hard.commit}`);
  }
  if (ready.snapshot !== undefined) {
    lines.push(`  snapshot: ${ready.snapshot.term}/${ready.snapshot.index} voters=(${ready.snapshot.confState.voters.join(' ')})`);
  }
  if (ready.entries.length > 0) lines.push(`  entries: ${formatEntries(ready.entries)}`);
  if (ready.committedEntries.length > 0) lines.push(`  committed: ${formatEntries(ready.committedEntries)}`);
  for (const message of ready.messages) lines.push(`  send ${formatMessage(message)}`);
  for (const read of ready.readStates) lines.push(`  read-state: ctx=${read.context} index=${read.index}`);
  return lines;
}

function formatResult(result: ProposeResult): string {
  if (result.ok) return `ok index=${result.index} term=${result.term}`;
  switch (result.reason) {
    case 'not-leader':
      return `rejected: not-leader (leader=${result.leaderId})`;
    case 'transfer-in-progress':
      return `rejected: transfer-in-progress (to ${result.transferee})`;
    case 'uncommitted-bytes-limit':
      return `rejected: uncommitted-bytes-limit (${result.uncommittedBytes} bytes uncommitted)`;
    case 'conf-change-pending':
      return `rejected: conf-change-pending (index ${result.pendingIndex})`;
    case 'invalid-conf-change':
      return `rejected: invalid-conf-change (${result.detail})`;
  }
}

function parseConfChanges(words: readonly string[]): SingleConfChange[] {
  const ops: Record<string, ConfChangeOp> = { v: 'add-voter', l: 'add-learner', r: 'remove' };
  return words.map((word) => {
    const op = ops[word.slice(0, 1)];
    assert(op !== undefined, `bad conf change ${word}`);
    return { op, nodeId: Number(word.slice(1)) };
  });
}

export class Interaction {
  private cluster: TestCluster | undefined = undefined;
  private electionTicks = 10;
  private heartbeatTicks = 1;
  private nextId = 1;

  private get c(): TestCluster {
    assert(this.cluster !== undefined, 'add-nodes first');
    return this.cluster;
  }

  run(command: Command): string {
    const lines = this.dispatch(command);
    return lines.length === 0 ? 'ok' : lines.join('\n');
  }

  private nodeArg(command: Command, position = 0): NodeId {
    const value = command.args[position];
    assert(value !== undefined, `${command.name}: missing node id`);
    return Number(value);
  }

  private dispatch(command: Command): string[] {
    const o = command.options;
    switch (command.name) {
      case 'add-nodes':
        return this.addNodes(command);
      case 'campaign':
        this.c.raft(this.nodeArg(command)).campaign();
        return [this.stateLine(this.nodeArg(command))];
      case 'tick-election':
      case 'tick-heartbeat': {
        const times = command.name === 'tick-election' ? this.electionTicks : this.heartbeatTicks;
        for (const id of command.args.map(Number)) this.c.tick(id, times);
        return command.args.map((id) => this.stateLine(Number(id)));
      }
      case 'propose':
        return [formatResult(this.c.raft(this.nodeArg(command)).propose(bytes(command.args[1] ?? '')))];
      case 'propose-conf-change': {
        const transition = (o.get('transition') ?? 'auto') as ConfChange['transition'];
        const change: ConfChange = { transition, changes: parseConfChanges(command.args.slice(1)) };
        return [formatResult(this.c.raft(this.nodeArg(command)).proposeConfChange(change))];
      }
      case 'process-ready':
        return command.args.flatMap((id) => this.processReady(Number(id)));
      case 'deliver-msgs':
        return this.deliver(command.args.length === 0 ? undefined : command.args.map(Number));
      case 'drop-msgs': {
        const dropped = this.c.inFlight.filter((m) => (o.get('to') === undefined || String(m.to) === o.get('to')) && (o.get('from') === undefined || String(m.from) === o.get('from')));
        this.c.inFlight = this.c.inFlight.filter((m) => !dropped.includes(m));
        return dropped.map((m) => `dropped ${formatMessage(m)}`);
      }
      case 'stabilize':
        return this.stabilize();
      case 'partition': {
        const slash = command.args.indexOf('/');
        this.c.partition(command.args.slice(0, slash).map(Number), command.args.slice(slash + 1).map(Number));
        return [];
      }
      case 'cut': // one-way: from=a to=b
        this.c.cut.add(`${o.get('from') ?? ''}-${o.get('to') ?? ''}`);
        return [];
      case 'isolate':
        this.c.isolate(this.nodeArg(command));
        return [];
      case 'heal':
        this.c.heal();
        return [];
      case 'status':
        return this.status(this.nodeArg(command));
      case 'raft-state':
        return [...this.c.nodes.keys()].sort((a, b) => a - b).map((id) => this.stateLine(id));
      case 'raft-log': {
        const raft = this.c.raft(this.nodeArg(command));
        const first = raft.firstLogIndex();
        const entries = raft.logEntries(first, raft.status().lastIndex + 1);
        return [`first=${first}`, ...entries.map(formatEntry)];
      }
      case 'read-index': {
        const result = this.c.raft(this.nodeArg(command)).readIndex(command.args[1] ?? '');
        return [result.ok ? 'ok' : `rejected: ${result.reason}`];
      }
      case 'lease':
        return [`lease-valid=${String(this.c.raft(this.nodeArg(command)).leaseValid())}`];
      case 'transfer-leadership': {
        const result = this.c.raft(Number(o.get('from'))).transferLeadership(Number(o.get('to')));
        return [result.ok ? 'ok' : `rejected: ${result.reason}`];
      }
      case 'compact': {
        const id = this.nodeArg(command);
        const node = this.c.node(id);
        const index = Number(command.args[1]);
        node.storage.createSnapshot(index, node.raft.status().config, `snap-${id}-${index}`);
        return [`compacted ${id} to ${index}`];
      }
      case 'restart':
        this.c.restart(this.nodeArg(command));
        return [this.stateLine(this.nodeArg(command))];
      case 'wake':
        for (const id of command.args.map(Number)) this.c.raft(id).wake();
        return command.args.map((id) => this.stateLine(Number(id)));
      case 'broadcast-commit':
        this.c.raft(this.nodeArg(command)).broadcastCommit();
        return ['ok'];
      case 'report-unreachable':
        this.c.raft(this.nodeArg(command)).reportUnreachable(this.nodeArg(command, 1));
        return [];
      case 'report-snapshot':
        this.c.raft(this.nodeArg(command)).reportSnapshot(this.nodeArg(command, 1), command.args[2] === 'ok');
        return [];
      default:
        assert(false, `unknown command ${command.name}`);
    }
    return [];
  }

  private addNodes(command: Command): string[] {
    const o = command.options;
    const count = this.nodeArg(command);
    const newIds = Array.from({ length: count }, (_, i) => this.nextId + i);
    this.nextId += count;
    if (this.cluster === undefined) {
      // stagger=true: node i's election timeout is electionTimeoutTicks * (1 + 0.3 * (i - 1)).
      const staggered = o.get('stagger') === 'true';
      this.electionTicks = Number(o.get('election') ?? 10);
      this.heartbeatTicks = Number(o.get('heartbeat') ?? 1);
      this.cluster = new TestCluster({
        electionTimeoutTicks: this.electionTicks,
        heartbeatTimeoutTicks: this.heartbeatTicks,
        preVote: o.get('prevote') === 'true',
        checkQuorum: o.get('checkquorum') === 'true',
        readOnlyOption: o.get('read-only') === 'lease-based' ? 'lease-based' : 'safe',
        leaseClockDriftTicks: Number(o.get('drift') ?? 2),
        maxInflightMsgs: Number(o.get('max-inflight') ?? 256),
        maxMsgBytes: Number(o.get('max-msg-bytes') ?? 1 << 20),
        maxUncommittedEntriesBytes: Number(o.get('max-uncommitted') ?? 1 << 20),
        quiesceAfterIdleTicks: Number(o.get('quiesce') ?? 0),
        skipHeartbeatAfterAppend: o.get('skip-heartbeat-after-append') === 'true',
        commitWithNextMessage: o.get('commit-with-next-message') === 'true',
      }, staggered ? (id) => ({ next: () => Math.min(0.99, (id - 1) * 0.3) }) : undefined);
      const voters = o.has('voters') ? ids(o.get('voters')) : newIds;
      this.c.addNodes(newIds, voters, ids(o.get('learners')));
    } else {
      for (const id of newIds) this.c.addEmptyNode(id);
    }
    return newIds.map((id) => this.stateLine(id));
  }

  private stateLine(id: NodeId): string {
    const s = this.c.raft(id).status();
    const joint = s.config.votersOutgoing.length > 0 ? `&&(${s.config.votersOutgoing.join(' ')})` : '';
    const learners = s.config.learners.length > 0 ? ` learners=(${s.config.learners.join(' ')})` : '';
    return `${id}: ${s.role} term=${s.term} lead=${s.leaderId} commit=${s.commit} applied=${s.applied} last=${s.lastIndex} voters=(${s.config.voters.join(' ')})${joint}${learners}${s.quiesced ? ' quiesced' : ''}`;
  }

  private status(id: NodeId): string[] {
    const s = this.c.raft(id).status();
    const lines = [this.stateLine(id)];
    if (s.leadTransferee !== 0) lines.push(`  transferring to ${s.leadTransferee}`);
    for (const [peer, p] of [...s.progress].sort((a, b) => a[0] - b[0])) {
      lines.push(
        `  ${peer}: ${p.state} match=${p.match} next=${p.next}${p.isLearner ? ' learner' : ''}${p.inflightMsgs > 0 ? ` inflight=${p.inflightMsgs}` : ''}${p.pendingSnapshot > 0 ? ` pending-snapshot=${p.pendingSnapshot}` : ''}${p.recentActive ? '' : ' inactive'}`,
      );
    }
    return lines;
  }

  private processReady(id: NodeId): string[] {
    let lines: string[] = [];
    this.c.onReady = (readyId, ready) => {
      lines = formatReady(readyId, ready);
    };
    this.c.processReady(id);
    this.c.onReady = undefined;
    return lines;
  }

  private deliver(to: readonly NodeId[] | undefined): string[] {
    const lines: string[] = [];
    const targets = to ?? [...new Set(this.c.inFlight.map((m) => m.to))];
    for (const id of targets) {
      const pending = this.c.inFlight.filter((m) => m.to === id);
      const dropped = pending.filter((m) => this.c.cut.has(`${m.from}-${m.to}`));
      this.c.deliver(id);
      if (dropped.length > 4) lines.push(`dropped ${dropped.length} messages to ${id}`);
      else for (const m of dropped) lines.push(`dropped ${formatMessage(m)}`);
    }
    return lines;
  }

  private stabilize(): string[] {
    const lines: string[] = [];
    for (let round = 0; round < 100; round++) {
      let progressed = false;
      for (const id of [...this.c.nodes.keys()].sort((a, b) => a - b)) {
        const readyLines = this.processReady(id);
        if (readyLines.length > 0) {
          lines.push(...readyLines);
          progressed = true;
        }
      }
      if (this.c.inFlight.length > 0) {
        lines.push(...this.deliver(undefined));
        progressed = true;
      }
      if (!progressed) return lines;
    }
    assert(false, 'stabilize did not converge');
    return lines;
  }
}
