import * as fs from 'fs';
import * as path from 'path';

/** The shell scripts of src/scripts, embedded into ConfigMaps at synth. */
export const SCRIPT_FILES = {
  entrypoint: 'init-replica.sh',
  node: 'pg-node.sh',
  labeler: 'role-labeler.sh',
  failover: 'failover.sh',
  leaderRecord: 'leader-record.sh',
  common: 'common.sh',
  ensureSecrets: 'ensure-secrets.sh',
  backup: 'backup.sh',
  archiveBackup: 'archive-backup.sh',
  createReplicationUser: 'create-replication-user.sh',
} as const;

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
