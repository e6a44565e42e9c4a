import * as fs from 'fs';
import * as path from 'path';

const root = path.join(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

/** Whether `version` ("22.0.0") satisfies `range`, which projen writes as ">= x.y.z" (minNodeVersion). */
function satisfiesMinimum(range: string, version: string): boolean {
  const minimum = /^>=\s*(\d+)\.(\d+)\.(\d+)$/.exec(range);
  if (!minimum) throw new Error(`engines.node ${JSON.stringify(range)} is not of the form ">= x.y.z"`);
  const given = version.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const bound = Number(minimum[i + 1]);
    if (given[i] !== bound) return given[i] > bound;
  }
  return true;
}

describe('package.json: what npm and Construct Hub show of the package', () => {
  test('its keywords name cdk8s (Construct Hub lists cdk8s libraries by it) and postgres', () => {
    expect(pkg.keywords).toEqual(expect.arrayContaining(['cdk8s', 'postgres', 'postgresql', 'kubernetes']));
  });

  test('it declares its license, whose text it ships, and its repository', () => {
    expect(pkg.license).toBe('Apache-2.0');
    expect(fs.readFileSync(path.join(root, 'LICENSE'), 'utf8')).toContain('Apache License');
    expect(pkg.repository).toEqual({ type: 'git', url: expect.stringMatching(/^https:\/\/github\.com\/[^/]+\/[^/]+\.git$/) });
  });

  test.each(['20.0.0', '22.0.0'])('Node.js %s satisfies engines.node', version => {
    expect(satisfiesMinimum(pkg.engines.node, version)).toBe(true);
  });

  test('Node.js 18, which the library does not support, does not', () => {
    expect(satisfiesMinimum(pkg.engines.node, '18.20.0')).toBe(false);
  });
});
