/**
 * Writes grafana/dashboards/*.json from grafana/build/dashboards.ts and copies the dashboards
 * and alert rules into the Helm chart (charts/phantomdb-operator/files/), which can only read
 * files inside itself. Run after changing a dashboard or a rule:
 *   npx tsx grafana/build/generate.ts
 * A test fails when the committed files differ from what this writes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dashboards } from './dashboards.ts';
import { renderDashboard } from './model.ts';

export const repoRoot = path.resolve(import.meta.dirname, '..', '..');
export const dashboardDir = path.join(repoRoot, 'grafana', 'dashboards');
export const alertDir = path.join(repoRoot, 'grafana', 'alerts');
export const chartFilesDir = path.join(repoRoot, 'charts', 'phantomdb-operator', 'files');

/** Every generated file: path → contents. */
export function generatedFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const spec of dashboards) {
    const name = `${spec.uid.replace(/^phantomdb-/, '')}.json`;
    const text = `${JSON.stringify(renderDashboard(spec), null, 2)}\n`;
    files.set(path.join(dashboardDir, name), text);
    files.set(path.join(chartFilesDir, 'dashboards', name), text);
  }
  for (const name of fs.readdirSync(alertDir).filter((file) => file.endsWith('.yaml')).sort()) {
    files.set(path.join(chartFilesDir, 'alerts', name), fs.readFileSync(path.join(alertDir, name), 'utf8'));
  }
  return files;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  for (const [file, text] of generatedFiles()) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    console.log(`wrote ${path.relative(repoRoot, file)}`);
  }
}
