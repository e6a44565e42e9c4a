import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

/** The shell scripts of src/scripts, embedded into ConfigMaps at synth. */
export const SCRIPT_FILES = {
  entrypoint: 'init-replica.sh',
  node: 'pg-node.sh',
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

/** The pod template's annotation whose value is scriptsDigest: a change of a script or of the agent rolls the pods. */
export const SCRIPTS_DIGEST_ANNOTATION = 'postgres.cdk8s.io/scripts-sha256';
/**
 * The pod template's annotation whose value is the digest of the postgresql.conf settings that need a restart: a change
 * of one rolls the pods; a change of the others only changes the ConfigMap, and each pod's agent reloads.
 */
export const RESTART_SETTINGS_DIGEST_ANNOTATION = 'postgres.cdk8s.io/restart-settings-sha256';

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * One digest of the scripts ConfigMap's data (each key with its value's SHA-256, in key order): the pods run what the
 * ConfigMap held when they started, so the entrypoint and the sidecar's agent are always of the same version.
 */
export function scriptsDigest(data: Readonly<Record<string, string>>): string {
  return sha256(JSON.stringify(Object.keys(data).sort().map(key => [key, sha256(data[key])])));
}
