// The start plan's executor side in the sidecar: when the entrypoint asks (it writes `<startPlanFile>.wanted`, one line,
// its request's id), the agent gathers the facts of decideStart (start.ts) from the pod's volume, the record it has just
// read and, where the decision needs it, the recorded primary over the network; then it writes the plan
// (startPlanText) for the entrypoint, which carries out its steps. No decision is made here.
import * as fs from 'fs';
import * as path from 'path';
import { configuredHotStandby } from './configuration';
import { ServerAnswer } from './node-status';
import { DbState, readControlFile } from './postgres';
import { asksRecordedPrimary, DataDirectory, decideStart, RecordCopy, StartFacts, StartPlan, startPlanText } from './start';

/** Written into a data directory that the entrypoint initialized, until the record names its cluster. */
export const INIT_MARKER = 'initialized-by-entrypoint';
/** On the volume, beside the data directory: the sidecar asks for a new clone (a replica whose WAL the primary lost). */
export const RECLONE_MARKER = 'reclone-requested';

/** The request id in `<startPlanFile>.wanted`: one line of letters, digits, dots and dashes; undefined when it is not one. */
export function parseStartRequest(text: string): string | undefined {
  const id = text.trim();
  return /^[A-Za-z0-9.-]{1,64}$/.test(id) ? id : undefined;
}

/** The highest timeline that a pg_wal/<timeline>.history file names, 0 when there is none. */
function highestHistory(pgdata: string): number {
  return Math.max(0, ...entriesOf(path.join(pgdata, 'pg_wal')).filter(name => /^[0-9A-F]{8}\.history$/.test(name)).map(name => parseInt(name.slice(0, 8), 16)));
}

/** A directory's entries; none when it does not exist (or cannot be read). */
function entriesOf(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function nonEmptyFile(file: string): boolean {
  return (fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0) > 0;
}

/** The data directory as decideStart needs it (what init-replica.sh read with pg_controldata and test -f). */
export function dataDirectoryOf(pgdata: string): DataDirectory {
  if (!nonEmptyFile(path.join(pgdata, 'PG_VERSION'))) {
    return entriesOf(pgdata).length === 0 ? { kind: 'empty' } : { kind: 'not-a-data-directory' };
  }
  const version = fs.readFileSync(path.join(pgdata, 'PG_VERSION'), 'utf8').trim();
  const read = readControlFile(pgdata);
  if (read.kind !== 'read') return { kind: 'unreadable', reason: read.reason, version };
  const state = read.control.state;
  return {
    kind: 'data',
    version,
    systemIdentifier: read.control.systemIdentifier,
    timeline: Math.max(read.control.timeline, highestHistory(pgdata)),
    standbySignal: fs.existsSync(path.join(pgdata, 'standby.signal')),
    shutDownCleanly: state === DbState.SHUT_DOWN || state === DbState.SHUT_DOWN_IN_RECOVERY,
    recoveryState: state === DbState.SHUT_DOWN_IN_RECOVERY || state === DbState.IN_ARCHIVE_RECOVERY,
    initializedByEntrypoint: fs.existsSync(path.join(pgdata, INIT_MARKER)),
    hotStandby: read.control.hotStandby,
  };
}

export interface StartInputs {
  readonly podName: string;
  readonly pgdata: string;
  /** The mounted postgresql.conf's directory. */
  readonly configDir: string;
  readonly record: RecordCopy;
  readonly restoreFrom: boolean;
  readonly syncReplicas: number;
  readonly postgresVersion: number;
  /** What the pod says of itself over the network (peerStatus), undefined when it does not answer. */
  readonly ask: (pod: string) => Promise<ServerAnswer | undefined>;
}

/** Gathers the facts (the recorded primary asked only when the decision needs it) and decides. */
export async function startPlanOf(inputs: StartInputs): Promise<StartPlan> {
  const data = dataDirectoryOf(inputs.pgdata);
  const known = { podName: inputs.podName, record: inputs.record, data };
  const record = inputs.record.kind === 'read' ? inputs.record.record : undefined;
  const answer = asksRecordedPrimary(known) && record?.state === 'stable' ? await inputs.ask(record.primary) : undefined;
  const facts: StartFacts = {
    ...known,
    recloneRequested: fs.existsSync(path.join(path.dirname(inputs.pgdata), RECLONE_MARKER)),
    restoreFrom: inputs.restoreFrom,
    syncReplicas: inputs.syncReplicas,
    postgresVersion: inputs.postgresVersion,
    configured: configuredHotStandby(readIfExists(path.join(inputs.configDir, 'postgresql.conf')), readIfExists(path.join(inputs.pgdata, 'postgresql.auto.conf'))),
    recordedPrimaryAnswers: answer !== undefined,
    recordedPrimaryTimeline: answer?.role === 'primary' ? answer.timeline : undefined,
  };
  return decideStart(facts);
}

/** A file's text, undefined when there is none. */
export function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The plan, replaced whole (rename): the entrypoint never reads half of one. */
export function writeStartPlan(file: string, request: string, plan: StartPlan): void {
  fs.writeFileSync(`${file}.new`, startPlanText(request, plan));
  fs.renameSync(`${file}.new`, file);
}
