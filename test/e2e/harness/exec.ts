import { execFile, execFileSync } from 'child_process';

/** Runs a command to completion; throws with its output when it fails. */
export function run(command: string, args: readonly string[], options: { input?: string } = {}): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', input: options.input, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; status?: number };
    throw new Error(`${command} ${args.join(' ')} failed (exit ${e.status}): ${e.stderr ?? ''}${e.stdout ?? ''}`);
  }
}

export interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command without throwing; a timeout kills it and reports code 124. */
export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
  readonly input?: string;
}

export function runAsync(command: string, args: readonly string[], options: RunOptions = {}): Promise<Result> {
  return new Promise(resolve => {
    const child = execFile(command, args as string[], {
      encoding: 'utf8', env: options.env, timeout: options.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024, killSignal: 'SIGKILL',
    }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 124) : 0;
      resolve({ code, stdout, stderr });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

export const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/** Polls `probe` until it returns a value; every wait has a bound and says what it waited for. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number, intervalMs = 200,
  diagnose?: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await sleep(intervalMs);
  }
  const detail = lastError ? `\nlast error: ${(lastError as Error).message}` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}${diagnose ? `\n${diagnose()}` : ''}`);
}
