/**
 * Regenerates docs/img/dashboard-*.png: starts the observability stack (3 nodes, the operator,
 * Prometheus), runs a KV load, evaluates every panel of every dashboard exactly as the
 * Prometheus test does, draws them (render-html.ts) and screenshots each page with headless
 * Chromium (Debian's chromium, installed with apt-get when missing).
 *
 *   npx tsx test/observability/render.ts          # RENDER_LOAD_SECONDS (default 20) of load
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, repoRoot } from '../cluster/harness.ts';
import { dashboardHtml } from './render-html.ts';
import { evaluateDashboard, loadDashboards, ObservabilityStack, stackTimeouts } from './stack.ts';
import { debianTool } from './tools.ts';

const loadSeconds = Number(process.env.RENDER_LOAD_SECONDS ?? 20);
const pageWidthPx = 24 * 64 + 20;

async function main(): Promise<void> {
  const chromium = debianTool('chromium', 'chromium');
  const outDir = join(repoRoot, 'docs', 'img');
  mkdirSync(outDir, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'phantomdb-render-'));
  const stack = await ObservabilityStack.start();
  try {
    await stack.waitForTargets();
    const started = Date.now() / 1000;
    const workload = await stack.runWorkload(loadSeconds);
    await eventually('the load visible in Prometheus', stackTimeouts.scraped, async () => ((await stack.prometheus.query('sum(rate(phantomdb_requests_total{api="kv"}[15s])) > 0')).length === 1 ? true : undefined));
    const end = Date.now() / 1000;
    const seconds = Math.ceil(end - started) + 10;
    console.log(`load: ${workload.puts} puts, ${workload.gets} gets in ${loadSeconds} s; drawing the last ${seconds} s`);
    for (const { file, dashboard } of loadDashboards()) {
      const panels = await evaluateDashboard(stack.prometheus, dashboard, end, seconds);
      const caption = `namespace=phantomdb-test cluster=obs node=All · last ${seconds} s · ${workload.puts} puts and ${workload.gets} gets by 4 clients on a local 3-node cluster · drawn from Prometheus by test/observability/render.ts`;
      const { html, heightPx } = dashboardHtml(dashboard, panels, { from: end - seconds, to: end }, caption);
      const page = join(work, file.replace(/\.json$/, '.html'));
      writeFileSync(page, html);
      const png = join(outDir, `dashboard-${file.replace(/\.json$/, '.png')}`);
      execFileSync(chromium, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--hide-scrollbars', `--window-size=${pageWidthPx},${heightPx}`, `--screenshot=${png}`, `file://${page}`], { stdio: 'pipe', timeout: 120_000 });
      console.log(`wrote ${png}`);
    }
  } finally {
    await stack.close();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
