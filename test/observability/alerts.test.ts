/**
 * The alert rules of grafana/alerts/: `promtool check rules` on every file and `promtool test
 * rules` on the unit tests in rules/ (each alert fires on series that should trigger it and stays
 * quiet on series that should not), plus what every alert must carry: a severity, a summary, a
 * description, and a runbook section in docs/runbooks.md that its runbook_url points at.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { debianTool } from './tools.ts';

const execFileAsync = promisify(execFile);
const repoRoot = join(import.meta.dirname, '..', '..');
const alertDir = join(repoRoot, 'grafana', 'alerts');
const ruleTestDir = join(import.meta.dirname, 'rules');

interface Rule {
  readonly alert?: string;
  readonly expr: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

interface RuleTestFile {
  readonly tests: readonly {
    readonly input_series: readonly { readonly series: string }[];
    readonly alert_rule_test?: readonly { readonly alertname: string; readonly exp_alerts?: readonly unknown[] }[];
  }[];
}

const ruleFiles = readdirSync(alertDir).filter((file) => file.endsWith('.yaml')).sort();
const testFiles = readdirSync(ruleTestDir).filter((file) => file.endsWith('.test.yaml')).sort();

function alertsOf(file: string): Rule[] {
  const doc = parse(readFileSync(join(alertDir, file), 'utf8')) as { groups: { rules: Rule[] }[] };
  return doc.groups.flatMap((group) => group.rules).filter((rule) => rule.alert !== undefined);
}

const allAlerts = ruleFiles.flatMap(alertsOf);
let promtool: string;

async function runPromtool(args: readonly string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(promtool, args, { cwd: ruleTestDir, timeout: 60_000 });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const failure = err as { code?: number; stdout?: string; stderr?: string };
    return { code: failure.code ?? 1, output: `${failure.stdout ?? ''}${failure.stderr ?? ''}` };
  }
}

beforeAll(() => {
  promtool = debianTool('promtool', 'prometheus');
}, 900_000);

describe('alert rules', () => {
  it('has rule files with alerts', () => {
    expect(ruleFiles.length).toBeGreaterThanOrEqual(2);
    expect(allAlerts.length).toBeGreaterThanOrEqual(10);
  });

  it.each(ruleFiles)('promtool check rules %s', async (file) => {
    const result = await runPromtool(['check', 'rules', join(alertDir, file)]);
    expect(result.output).toContain('SUCCESS');
    expect(result.code, result.output).toBe(0);
  });

  it('promtool test rules: every unit test passes', async () => {
    const result = await runPromtool(['test', 'rules', ...testFiles]);
    expect(result.code, result.output).toBe(0);
    expect(result.output).not.toContain('FAILED');
  });

  it('promtool test rules fails when an alert does not behave as expected (the harness can fail)', async () => {
    // A copy of the data node tests that expects the healthy node to be down as well.
    const text = readFileSync(join(ruleTestDir, 'datanode.test.yaml'), 'utf8').replace('instance: "db-1:8080" }', 'instance: "db-2:8080" }');
    const dir = mkdtempSync(join(tmpdir(), 'phantomdb-rules-'));
    try {
      writeFileSync(join(dir, 'broken.test.yaml'), text.replace('../../../grafana/alerts/', `${alertDir}/`));
      const result = await runPromtool(['test', 'rules', join(dir, 'broken.test.yaml')]);
      expect(result.code).not.toBe(0);
      expect(result.output).toContain('FAILED');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tests every alert both firing and staying quiet', () => {
    const fires = new Set<string>();
    const quiet = new Set<string>();
    for (const file of testFiles) {
      const doc = parse(readFileSync(join(ruleTestDir, file), 'utf8')) as RuleTestFile;
      for (const test of doc.tests) {
        for (const check of test.alert_rule_test ?? []) {
          const expected = check.exp_alerts?.length ?? 0;
          if (expected > 0) fires.add(check.alertname);
          // Quiet: an evaluation expecting nothing, or series beyond those expected to fire.
          if (expected === 0 || test.input_series.length > expected) quiet.add(check.alertname);
        }
      }
    }
    for (const rule of allAlerts) {
      expect(fires, `${rule.alert} has no test where it fires`).toContain(rule.alert);
      expect(quiet, `${rule.alert} has no test where it stays quiet`).toContain(rule.alert);
    }
  });

  it('gives every alert a severity, summary, description and a runbook section', () => {
    const runbooks = readFileSync(join(repoRoot, 'docs', 'runbooks.md'), 'utf8');
    const anchors = new Set([...runbooks.matchAll(/^## (.+)$/gm)].map((match) => (match[1] ?? '').trim().toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-')));
    const names = allAlerts.map((rule) => rule.alert);
    expect(new Set(names).size, 'alert names are unique').toBe(names.length);
    for (const rule of allAlerts) {
      expect(['critical', 'warning', 'info'], `${rule.alert} severity`).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, `${rule.alert} summary`).toBeTruthy();
      expect(rule.annotations?.description, `${rule.alert} description`).toBeTruthy();
      const url = rule.annotations?.runbook_url ?? '';
      expect(url, `${rule.alert} runbook_url`).toMatch(/docs\/runbooks\.md#[a-z0-9-]+$/);
      const anchor = url.slice(url.indexOf('#') + 1);
      expect(anchor, `${rule.alert} runbook anchor`).toBe((rule.alert ?? '').toLowerCase());
      expect(anchors, `docs/runbooks.md has a section for ${rule.alert}`).toContain(anchor);
    }
  });
});
