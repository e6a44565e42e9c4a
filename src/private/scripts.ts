import * as fs from 'fs';
import * as path from 'path';

/** The shell scripts of src/scripts, embedded into ConfigMaps at synth. */
export const SCRIPT_FILES = {
  entrypoint: 'init-replica.sh',
  node: 'pg-node.sh',
  failover: 'failover.sh',
  leaderRecord: 'leader-record.sh',
  common: 'common.sh',
  ensureSecrets: 'ensure-secrets.sh',
  backup: 'backup.sh',
  archiveBackup: 'archive-backup.sh',
  createReplicationUser: 'create-replication-user.sh',
  leaseFence: 'lease-fence.sh',
} as const;

/** The agent's keys in the scripts ConfigMap: its bundle, and the sidecar's configuration document. */
export const AGENT_FILES = {
  bundle: 'agent.js',
  sidecarConfig: 'sidecar.json',
} as const;

/** The agent bundled by esbuild (`npx projen bundle:agent`), beside its sources (src/agent/, lib/agent/ once compiled). */
export const AGENT_BUNDLE = 'agent.bundle.js';

let agentBundle: string | undefined;

/** The agent's bundle, read once per process. */
export function readAgentBundle(): string {
  agentBundle ??= fs.readFileSync(path.join(__dirname, '..', 'agent', AGENT_BUNDLE), 'utf8');
  return agentBundle;
}

const cache = new Map<string, string>();

/** Reads a script once per process: synthesizing many clusters costs one read each. */
export function readScript(file: string): string {
  let text = cache.get(file);
  if (text === undefined) {
    text = fs.readFileSync(path.join(__dirname, '..', 'scripts', file), 'utf8');
    cache.set(file, text);
  }
  return text;
}
