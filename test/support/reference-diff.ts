/**
 * Differences between the reference manifests and synthesized ones, as flat paths such as
 * `spec.template.spec.containers[postgres].command`. Lists whose items have names are keyed by name;
 * postgresql.conf is compared setting by setting (`data.postgresql.conf/max_wal_senders`).
 */
export interface Difference {
  /** "Kind/name" */
  readonly object: string;
  readonly path: string;
  readonly change: 'added' | 'removed' | 'changed';
}

type Obj = { kind: string; metadata: { name: string }; [k: string]: any };

export function diffManifests(reference: Obj[], synthesized: Obj[]): Difference[] {
  const differences: Difference[] = [];
  const id = (o: Obj) => `${o.kind}/${o.metadata.name}`;
  for (const ref of reference) {
    const mine = synthesized.find(o => id(o) === id(ref));
    if (!mine) {
      differences.push({ object: id(ref), path: '(object)', change: 'removed' });
      continue;
    }
    const a = flatten(ref);
    const b = flatten(mine);
    for (const [path, value] of a) {
      if (!b.has(path)) differences.push({ object: id(ref), path, change: 'removed' });
      else if (b.get(path) !== value) differences.push({ object: id(ref), path, change: 'changed' });
    }
    for (const path of b.keys()) {
      if (!a.has(path)) differences.push({ object: id(ref), path, change: 'added' });
    }
  }
  for (const mine of synthesized) {
    if (!reference.some(r => id(r) === id(mine))) differences.push({ object: id(mine), path: '(object)', change: 'added' });
  }
  return differences;
}

function flatten(value: unknown, path = '', out = new Map<string, string>()): Map<string, string> {
  if (Array.isArray(value)) {
    if (value.every(v => v !== null && typeof v === 'object' && typeof (v as any).name === 'string')) {
      for (const item of value) flatten(item, `${path}[${item.name}]`, out);
    } else if (value.every(v => v !== null && typeof v === 'object' && (v as any).metadata?.name)) {
      for (const item of value) flatten(item, `${path}[${item.metadata.name}]`, out);
    } else {
      out.set(path, JSON.stringify(value));
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      const childPath = path ? `${path}.${key}` : key;
      if (key === 'postgresql.conf' && typeof child === 'string') {
        for (const [setting, v] of parseConf(child)) out.set(`${childPath}/${setting}`, v);
      } else {
        flatten(child, childPath, out);
      }
    }
  } else {
    out.set(path, String(value));
  }
  return out;
}

/** Settings of a postgresql.conf, values unquoted: `max_wal_senders = 3` -> ["max_wal_senders", "3"]. */
export function parseConf(text: string): Map<string, string> {
  const settings = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    const match = /^([A-Za-z0-9_.]+)\s*=?\s*(.*)$/.exec(line);
    if (!match) continue;
    settings.set(match[1].toLowerCase(), match[2].replace(/^'(.*)'$/, '$1').replace(/''/g, "'"));
  }
  return settings;
}

/** One row of the deviations table in docs/deviations.md. */
export interface Deviation {
  readonly object: string;
  readonly path: string;
  readonly change: string;
  readonly reason: string;
}

/** Reads the table rows `| Kind/name or * | path | change | reason |` under the "## Differences" heading. */
export function parseDeviations(markdown: string, heading = 'Differences'): Deviation[] {
  const section = markdown.split(new RegExp(`^## ${heading}\\s*$`, 'm'))[1];
  if (!section) throw new Error(`docs/deviations.md has no "## ${heading}" section`);
  const rows: Deviation[] = [];
  for (const line of section.split(/^## /m)[0].split('\n')) {
    const cells = line.split('|').slice(1, -1).map(c => c.trim());
    if (cells.length !== 4 || cells[0] === 'Object' || /^-+$/.test(cells[0])) continue;
    const unquote = (s: string) => s.replace(/^`(.*)`$/, '$1');
    rows.push({ object: unquote(cells[0]), path: unquote(cells[1]), change: cells[2], reason: cells[3] });
  }
  return rows;
}

/** A row covers a difference when the object matches (`*` for all) and one of its paths (comma-separated) is the path or a prefix of it. */
export function covers(deviation: Deviation, difference: Difference): boolean {
  const objectMatches = deviation.object === '*' || deviation.object === difference.object;
  if (!objectMatches) return false;
  return deviation.path.split(/,\s*/).map(p => p.replace(/^`|`$/g, '')).some(p =>
    difference.path === p || difference.path.startsWith(`${p}.`) || difference.path.startsWith(`${p}[`) || difference.path.startsWith(`${p}/`));
}
