// The agent's entry point, bundled (esbuild) into the one JavaScript file that the manifests embed and a Node.js image
// runs: `node agent.js sidecar <configuration document>`, and the failover job's `node agent.js failover` (its document
// in FAILOVER_JOB_CONFIG). POD_NAME (the downward API) names the pod; everything else comes from the document
// (config.ts). A missing or invalid setting stops the agent at start with a message that names it.
import * as fs from 'fs';
import { DUMP_COPY_COMMAND, FAILOVER_COMMAND, failoverRunOf, parseDumpCopyConfig, parseFailoverJobConfig, parseSidecarConfig, SidecarConfig } from './config';
import { copyDump, S3Bucket } from './dump-copy';
import { FailoverJobAgent } from './failover-job-agent';
import { inClusterOptions, KubeClient } from './kube';
// The sidecar's modules, and with them the PostgreSQL client, are loaded only by the commands that use them: the failover
// job never talks to PostgreSQL, and loading the client is a third of the bundle's start (about 35 ms of 115).
import type * as PostgresModule from './postgres';
import type * as SidecarModule from './sidecar-agent';

/* eslint-disable @typescript-eslint/no-require-imports */
const postgresModule = (): typeof PostgresModule => require('./postgres');
const sidecarModule = (): typeof SidecarModule => require('./sidecar-agent');
/* eslint-enable @typescript-eslint/no-require-imports */

/** One line on stderr, as the scripts' log() writes them: UTC time to the millisecond, the pod and the program. */
export function logLine(name: string, message: string, now: Date): string {
  return `${now.toISOString()} ${name}: ${message}\n`;
}

/** The agent's commands: the sidecar's loop, and what the failover job runs in the sidecar with `kubectl exec`. */
export const COMMANDS = ['sidecar', 'fence', 'status'] as const;

/** The command line's problem, or undefined: `<command> <configuration file>`, or `failover`. */
export function usageProblem(args: readonly string[]): string | undefined {
  if (args.length === 2 && (COMMANDS as readonly string[]).includes(args[0])) return undefined;
  if (args.length === 1 && (args[0] === FAILOVER_COMMAND || args[0] === DUMP_COPY_COMMAND)) return undefined;
  return `usage: agent.js ${COMMANDS.join('|')} <configuration file>, or agent.js ${FAILOVER_COMMAND}|${DUMP_COPY_COMMAND} `
    + `(got: ${args.length === 0 ? 'no arguments' : args.join(' ')})`;
}

/** The failover job: its document from FAILOVER_JOB_CONFIG, the run's request from its other variables. */
async function failoverJob(podName: string, env: NodeJS.ProcessEnv, fail: (message: string) => void): Promise<number> {
  let job: FailoverJobAgent;
  try {
    const config = parseFailoverJobConfig(env.FAILOVER_JOB_CONFIG ?? '', 'FAILOVER_JOB_CONFIG');
    const run = failoverRunOf(env, config.timeouts);
    const kube = new KubeClient({ ...inClusterOptions(env, config.apiTimeoutSeconds * 1000), userAgent: 'cdk8s-postgres-failover-job' });
    job = new FailoverJobAgent(config, run, podName, kube, {
      monotonic: () => performance.now() / 1000,
      sleep: ms => new Promise(resolve => setTimeout(resolve, ms)),
    }, message => process.stderr.write(logLine('failover', message, new Date())));
  } catch (error) {
    fail((error as Error).message);
    return 2;
  }
  return job.main();
}

/** The logical backup's copy into a bucket: its document from DUMP_COPY_CONFIG, the key from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. */
async function dumpCopy(env: NodeJS.ProcessEnv, log: (message: string) => void): Promise<number> {
  let config;
  try {
    config = parseDumpCopyConfig(env.DUMP_COPY_CONFIG ?? '', 'DUMP_COPY_CONFIG');
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
      if ((env[name] ?? '') === '') throw new Error(`${name} is not set: it comes from the Secret of backupS3.credentials, which must have the key`);
    }
  } catch (error) {
    log((error as Error).message);
    return 2;
  }
  const bucket = new S3Bucket(config, { id: env.AWS_ACCESS_KEY_ID!, secret: env.AWS_SECRET_ACCESS_KEY! });
  return copyDump(config, { listDumps: () => fs.readdirSync(config.dumpDir), bucket, log });
}

/** `status`: the pod's status line (node-status.ts); `fence`: standby.signal, a fast shutdown, then the status line. */
async function nodeCommand(command: 'fence' | 'status', config: SidecarConfig, log: (message: string) => void): Promise<number> {
  const { fastShutdown, writeStandbySignal } = postgresModule();
  const { nodeStatus } = sidecarModule();
  if (command === 'fence') {
    writeStandbySignal(config.pgdata);
    log('fenced: standby.signal written; stopping PostgreSQL (fast) so that it restarts as a replica');
    if (!await fastShutdown(config.pgdata, 60_000)) {
      log('the fast shutdown did not finish within 60s');
      return 1;
    }
  }
  const line = await nodeStatus(config);
  if (line === undefined) {
    log(`cannot read ${config.pgdata}/global/pg_control`);
    return 1;
  }
  process.stdout.write(`${line}\n`);
  return 0;
}

async function main(args: readonly string[]): Promise<number> {
  const problem = usageProblem(args);
  const podName = process.env.POD_NAME ?? process.env.HOSTNAME ?? '';
  const write = (name: string) => (message: string) => process.stderr.write(logLine(name, message, new Date()));
  const fail = write(`${podName || 'postgres-cluster'} agent`);
  if (problem !== undefined) {
    fail(problem);
    return 2;
  }
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(podName)) {
    fail(`POD_NAME is ${JSON.stringify(podName)}: it must name this pod (set it from the downward API, metadata.name)`);
    return 2;
  }
  if (args[0] === FAILOVER_COMMAND) return failoverJob(podName, process.env, fail);
  if (args[0] === DUMP_COPY_COMMAND) return dumpCopy(process.env, write(`${podName} copy-dump`));
  let agent: SidecarModule.SidecarAgent;
  try {
    const config = parseSidecarConfig(fs.readFileSync(args[1], 'utf8'), args[1]);
    if (args[0] !== 'sidecar') return await nodeCommand(args[0] as 'fence' | 'status', config, write(`${podName} pg-node`));
    const kube = new KubeClient(inClusterOptions(process.env, config.timing.apiTimeoutSeconds * 1000));
    const { SidecarAgent } = sidecarModule();
    agent = new SidecarAgent(config, podName, kube, {
      monotonic: () => performance.now() / 1000,
      wallMicros: () => Date.now() * 1000,
      uptime: () => Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]),
      log: write(`${podName} role-labeler`),
    });
  } catch (error) {
    fail((error as Error).message);
    return 2;
  }
  const stop = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop.abort());
  await agent.run(stop.signal);
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(code => process.exit(code), (error: Error) => {
    process.stderr.write(logLine(`${process.env.POD_NAME ?? 'postgres-cluster'} agent`, `stopped: ${error.stack ?? error.message}`, new Date()));
    process.exit(1);
  });
}
