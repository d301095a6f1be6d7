/**
 * The Grafana dashboards of grafana/dashboards/ as Grafana needs them: generated from
 * grafana/build/ (and copied into the Helm chart) without drift, unique uids and panel ids, a
 * datasource variable that every panel and query uses (no hard-coded datasource UIDs), the
 * namespace/cluster/node variables, panels on the 24-column grid without overlaps, and a unit,
 * a description and queries on every panel.
 */
import { readFileSync } from 'node:fs';
import { basename, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generatedFiles, repoRoot } from '../../grafana/build/generate.ts';

interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly description?: string;
  readonly datasource?: { readonly type?: string; readonly uid?: string };
  readonly gridPos: { readonly x: number; readonly y: number; readonly w: number; readonly h: number };
  readonly fieldConfig?: { readonly defaults?: { readonly unit?: string } };
  readonly targets?: readonly { readonly expr?: string; readonly refId?: string; readonly datasource?: { readonly uid?: string } }[];
}

interface Dashboard {
  readonly uid: string;
  readonly title: string;
  readonly templating: { readonly list: readonly { readonly name: string; readonly type: string; readonly query?: unknown; readonly datasource?: { readonly uid?: string } }[] };
  readonly panels: readonly Panel[];
}

const files = generatedFiles();
const dashboardFiles = [...files.keys()].filter((file) => relative(repoRoot, file).startsWith('grafana/dashboards/'));
const dashboards = dashboardFiles.map((file) => ({ name: basename(file), dashboard: JSON.parse(readFileSync(file, 'utf8')) as Dashboard }));

describe('grafana dashboards', () => {
  it('ships the four dashboards', () => {
    expect(dashboards.map((d) => d.name).sort()).toEqual(['operator.json', 'overview.json', 'replication.json', 'storage.json']);
  });

  it('are up to date with grafana/build (run npx tsx grafana/build/generate.ts), in the chart too', () => {
    for (const [file, text] of files) expect(readFileSync(file, 'utf8'), `${relative(repoRoot, file)} is stale`).toBe(text);
  });

  it('have unique uids', () => {
    const uids = dashboards.map((d) => d.dashboard.uid);
    expect(new Set(uids).size).toBe(uids.length);
  });

  describe.each(dashboards)('$name', ({ dashboard }) => {
    const panels = dashboard.panels.filter((panel) => panel.type !== 'row');

    it('has a datasource variable and namespace, cluster and node variables using it', () => {
      const variables = dashboard.templating.list;
      const datasource = variables.find((v) => v.type === 'datasource');
      expect(datasource?.query).toBe('prometheus');
      for (const name of ['namespace', 'cluster', 'node']) {
        const variable = variables.find((v) => v.name === name);
        expect(variable?.type, name).toBe('query');
        expect(variable?.datasource?.uid, name).toBe(`\${${datasource?.name ?? ''}}`);
      }
    });

    it('has unique panel ids', () => {
      const ids = dashboard.panels.map((panel) => panel.id);
      expect(ids.every((id) => Number.isInteger(id) && id > 0)).toBe(true);
      expect(new Set(ids).size).toBe(ids.length);
    });

    it('places panels on the grid without overlaps', () => {
      const occupied = new Map<string, number>();
      for (const panel of dashboard.panels) {
        const { x, y, w, h } = panel.gridPos;
        for (const value of [x, y, w, h]) expect(Number.isInteger(value), `${panel.title} gridPos`).toBe(true);
        expect(x, panel.title).toBeGreaterThanOrEqual(0);
        expect(y, panel.title).toBeGreaterThanOrEqual(0);
        expect(w, panel.title).toBeGreaterThan(0);
        expect(h, panel.title).toBeGreaterThan(0);
        expect(x + w, panel.title).toBeLessThanOrEqual(24);
        for (let cx = x; cx < x + w; cx++) {
          for (let cy = y; cy < y + h; cy++) {
            const other = occupied.get(`${cx},${cy}`);
            expect(other, `${panel.title} overlaps panel ${other}`).toBeUndefined();
            occupied.set(`${cx},${cy}`, panel.id);
          }
        }
      }
    });

    it('uses the datasource variable everywhere (no hard-coded datasource UIDs)', () => {
      const text = JSON.stringify(dashboard);
      for (const match of text.matchAll(/"uid":"([^"]*)"/g)) {
        const uid = match[1] ?? '';
        if (uid === dashboard.uid) continue;
        expect(uid).toBe('${datasource}');
      }
      for (const panel of panels) {
        expect(panel.datasource?.uid, panel.title).toBe('${datasource}');
        for (const target of panel.targets ?? []) expect(target.datasource?.uid, panel.title).toBe('${datasource}');
      }
    });

    it('gives every panel a unit, a description and at least one query', () => {
      expect(panels.length).toBeGreaterThanOrEqual(6);
      for (const panel of panels) {
        expect(panel.fieldConfig?.defaults?.unit, `${panel.title} unit`).toBeTruthy();
        expect((panel.description ?? '').length, `${panel.title} description`).toBeGreaterThan(40);
        expect(panel.targets?.length, `${panel.title} targets`).toBeGreaterThan(0);
        const refIds = (panel.targets ?? []).map((t) => t.refId);
        expect(new Set(refIds).size, `${panel.title} refIds`).toBe(refIds.length);
        for (const target of panel.targets ?? []) expect(target.expr, panel.title).toMatch(/phantomdb_|up\{/);
      }
    });
  });
});
