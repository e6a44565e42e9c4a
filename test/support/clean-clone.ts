import { spawnSync, SpawnSyncOptions, SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export const root = path.join(__dirname, '..', '..');
export const PACKAGE_NAME = 'cdk8s-postgres-cluster';

/** What npm pack --json says of the tarball it wrote. */
export interface PackResult {
  readonly filename: string;
  readonly size: number;
  readonly files: { readonly path: string }[];
}

export function run(command: string, args: string[], cwd: string, options: SpawnSyncOptions = {}): SpawnSyncReturns<string> {
  const env = { ...process.env, CDK8S_CHECK_UPGRADE: 'false', npm_config_update_notifier: 'false', ...options.env };
  const result = spawnSync(command, args, { maxBuffer: 256 * 1024 * 1024, ...options, cwd, env, encoding: 'utf8' });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`\`${command} ${args.join(' ')}\` in ${cwd} exited with ${result.status}:\n${result.stdout}\n${result.stderr}`);
  }
  return result;
}

/**
 * A clone of this repository as a new user gets it, in `<workDir>/repo`, with its dependencies installed by `npm ci`.
 * It holds HEAD plus the work tree's uncommitted changes to tracked files (`git stash create`, which changes no file),
 * so that what is about to be committed is what gets packed; untracked files are left out, as a clone leaves them.
 * `npm ci` takes the tarballs from npm's cache (the repository's own `npm ci` filled it) and asks the registry only
 * for what the cache lacks.
 */
export function cleanClone(workDir: string): string {
  const clone = path.join(workDir, 'repo');
  const commit = run('git', ['stash', 'create'], root).stdout.trim() || run('git', ['rev-parse', 'HEAD'], root).stdout.trim();
  run('git', ['clone', '--quiet', '--no-checkout', root, clone], workDir);
  run('git', ['checkout', '--quiet', '--detach', commit], clone);
  run('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], clone);
  return clone;
}

/** `npm pack` in a clone: its prepack builds lib/ first. The tarball is written to destination. */
export function npmPack(clone: string, destination: string): PackResult & { readonly tarball: string } {
  const pack = run('npm', ['pack', '--json', '--pack-destination', destination], clone);
  const packed = (JSON.parse(pack.stdout) as PackResult[])[0];
  return { ...packed, tarball: path.join(destination, packed.filename) };
}

/** The version of a dependency that the repository installed (package-lock.json's), e.g. cdk8s's. */
export function installedVersion(dependency: string): string {
  return JSON.parse(fs.readFileSync(path.join(root, 'node_modules', dependency, 'package.json'), 'utf8')).version;
}
