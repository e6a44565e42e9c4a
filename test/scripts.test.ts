import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const scriptsDir = path.join(__dirname, '..', 'src', 'scripts');
const scripts = fs.readdirSync(scriptsDir).filter(f => f.endsWith('.sh'));
const harnessScripts = [path.join(__dirname, 'e2e', 'harness', 'bin', 'container-launch.sh'), path.join(__dirname, '..', '.ci', 'run'),
  path.join(__dirname, 'setup', 'system-packages.sh')];

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

describe('npm test brings the Debian packages it needs (test/setup/system-packages.sh)', () => {
  const script = path.join(__dirname, 'setup', 'system-packages.sh');
  // As a user who is not root (uid 65534 when the tests run as root), with none of the programs on PATH.
  const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

  test('without root, it names the apt-get command that installs what is missing, and fails', () => {
    const result = spawnSync('/bin/bash', [script], { encoding: 'utf8', cwd: '/', env: { PATH: '/nonexistent' }, ...asUser });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('The tests need Debian packages that are not installed: shellcheck iproute2 util-linux gcc libc6-dev kubernetes-client');
    expect(result.stderr).toContain('sudo apt-get update && sudo apt-get install -y --no-install-recommends shellcheck iproute2 util-linux gcc libc6-dev kubernetes-client');
  });

  test('with everything there, it does nothing', () => {
    const result = spawnSync('/bin/bash', [script], { encoding: 'utf8', cwd: '/', env: { PATH: process.env.PATH }, ...asUser });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('');
    expect(result.status).toBe(0);
  });
});
