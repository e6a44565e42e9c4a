import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const scriptsDir = path.join(__dirname, '..', 'src', 'scripts');
const scripts = fs.readdirSync(scriptsDir).filter(f => f.endsWith('.sh'));
const harnessScripts = [path.join(__dirname, 'e2e', 'harness', 'bin', 'container-launch.sh'), path.join(__dirname, '..', '.ci', 'run')];

describe('shell scripts', () => {
  test('there are scripts to check', () => {
    expect(scripts).toEqual(expect.arrayContaining(['init-replica.sh', 'pg-node.sh', 'role-labeler.sh', 'failover.sh', 'create-replication-user.sh']));
  });

  test.each([...scripts.map(s => path.join(scriptsDir, s)), ...harnessScripts])('%s passes shellcheck', file => {
    const result = spawnSync('shellcheck', ['--shell=bash', '--external-sources', file], { encoding: 'utf8' });
    if (result.error) throw new Error(`shellcheck is not installed (Debian package shellcheck; .ci/run installs it): ${result.error.message}`);
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  test.each(scripts)('%s is strict bash: set -euo pipefail', file => {
    const text = fs.readFileSync(path.join(scriptsDir, file), 'utf8');
    expect(text.startsWith('#!/usr/bin/env bash\n')).toBe(true);
    expect(text).toMatch(/^set -euo pipefail$/m);
  });
});
