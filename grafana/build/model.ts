/**
 * A small typed model of the Grafana dashboards we ship, and its rendering to Grafana's JSON
 * (schemaVersion 39). Panels are laid out on Grafana's 24-column grid in reading order.
 */

export type Unit = 'short' | 'ops' | 's' | 'bytes' | 'Bps' | 'percentunit' | 'none' | 'dateTimeFromNow' | 'binBps';

export interface Target {
  readonly expr: string;
  readonly legend: string;
  /** Instant query (tables and stats of current values). */
  readonly instant?: boolean;
}

export interface PanelSpec {
  readonly title: string;
  /** What the panel means and what to do when it looks wrong. */
  readonly description: string;
  readonly unit: Unit;
  readonly targets: readonly Target[];
  readonly type?: 'timeseries' | 'stat' | 'bargauge';
  /** Grid width (of 24); default 12. */
  readonly width?: number;
  readonly height?: number;
  readonly min?: number;
  readonly max?: number;
  readonly stack?: boolean;
  /** Stat panels: values at or above these turn the panel amber and red. */
  readonly thresholds?: readonly [number, number];
  /** Value → text shown instead (e.g. 0 → "never"). */
  readonly valueText?: Readonly<Record<string, string>>;
}

export interface RowSpec {
  readonly title: string;
  readonly panels: readonly PanelSpec[];
}

export interface VariableSpec {
  readonly name: string;
  readonly label: string;
  /** label_values(metric{...}, label). */
  readonly metric: string;
  readonly label_: string;
}

export interface DashboardSpec {
  readonly uid: string;
  readonly title: string;
  readonly description: string;
  readonly tags: readonly string[];
  readonly variables: readonly VariableSpec[];
  readonly rows: readonly RowSpec[];
}

type Json = string | number | boolean | null | readonly Json[] | { readonly [key: string]: Json };

const datasourceRef: Json = { type: 'prometheus', uid: '${datasource}' };

function variableJson(variable: VariableSpec): Json {
  const query = `label_values(${variable.metric}, ${variable.label_})`;
  return {
    name: variable.name,
    label: variable.label,
    type: 'query',
    datasource: datasourceRef,
    query: { query, refId: `${variable.name}-query`, qryType: 1 },
    definition: query,
    refresh: 2,
    includeAll: true,
    allValue: '.*',
    multi: true,
    current: { selected: true, text: ['All'], value: ['$__all'] },
    sort: 1,
    hide: 0,
    options: [],
    regex: '',
  };
}

function panelJson(panel: PanelSpec, id: number, gridPos: { x: number; y: number; w: number; h: number }): Json {
  const type = panel.type ?? 'timeseries';
  const thresholds = panel.thresholds === undefined
    ? { mode: 'absolute', steps: [{ color: 'green', value: null }] }
    : { mode: 'absolute', steps: [{ color: 'green', value: null }, { color: 'orange', value: panel.thresholds[0] }, { color: 'red', value: panel.thresholds[1] }] };
  const mappings = panel.valueText === undefined ? [] : [{ type: 'value', options: Object.fromEntries(Object.entries(panel.valueText).map(([value, text]) => [value, { text }])) }];
  const custom: Json = type === 'timeseries' ? { drawStyle: 'line', lineWidth: 1, fillOpacity: panel.stack === true ? 30 : 10, showPoints: 'never', spanNulls: true, stacking: { mode: panel.stack === true ? 'normal' : 'none', group: 'A' } } : {};
  return {
    id,
    type,
    title: panel.title,
    description: panel.description,
    datasource: datasourceRef,
    gridPos,
    fieldConfig: {
      defaults: {
        unit: panel.unit,
        ...(panel.min === undefined ? {} : { min: panel.min }),
        ...(panel.max === undefined ? {} : { max: panel.max }),
        thresholds,
        mappings,
        color: { mode: type === 'timeseries' ? 'palette-classic' : 'thresholds' },
        custom,
      },
      overrides: [],
    },
    options: type === 'timeseries'
      ? { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'desc' } }
      : { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value', graphMode: 'area', textMode: 'auto', orientation: 'auto' },
    targets: panel.targets.map((target, index) => ({
      refId: String.fromCharCode(65 + index),
      datasource: datasourceRef,
      expr: target.expr,
      legendFormat: target.legend,
      range: target.instant !== true,
      instant: target.instant === true,
      editorMode: 'code',
    })),
  };
}

/** Grafana's dashboard JSON for `spec`: rows as row panels, panels flowing left to right. */
export function renderDashboard(spec: DashboardSpec): Json {
  const panels: Json[] = [];
  let id = 1;
  let y = 0;
  for (const row of spec.rows) {
    panels.push({ id: id++, type: 'row', title: row.title, collapsed: false, gridPos: { x: 0, y, w: 24, h: 1 }, panels: [] });
    y += 1;
    let x = 0;
    let rowHeight = 0;
    for (const panel of row.panels) {
      const w = panel.width ?? 12;
      const h = panel.height ?? (panel.type === 'stat' ? 4 : 8);
      if (x + w > 24) {
        x = 0;
        y += rowHeight;
        rowHeight = 0;
      }
      panels.push(panelJson(panel, id++, { x, y, w, h }));
      x += w;
      rowHeight = Math.max(rowHeight, h);
    }
    y += rowHeight;
  }
  return {
    uid: spec.uid,
    title: spec.title,
    description: spec.description,
    tags: spec.tags,
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-1h', to: 'now' },
    timezone: 'browser',
    // A menu of the other PhantomDB dashboards, carrying the variables and time range over.
    links: [{ type: 'dashboards', title: 'PhantomDB', tags: ['phantomdb'], asDropdown: true, includeVars: true, keepTime: true, icon: 'external link', targetBlank: false }],
    annotations: { list: [] },
    templating: {
      list: [
        { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', current: {}, hide: 0, refresh: 1, regex: '', options: [] },
        ...spec.variables.map(variableJson),
      ],
    },
    panels,
  };
}
