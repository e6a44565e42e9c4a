import * as fs from 'fs';
import * as http from 'http';
import { Result } from './exec';
import { Manifests, matchesSelector } from './manifests';
import { Pod } from './pod';

/** What the API stand-in needs from the cluster. */
export interface ApiBackend {
  readonly namespace: string;
  readonly manifests: Manifests;
  livePods(): Pod[];
  accountOfToken(token: string): string | undefined;
  onLabelsChange(pod: Pod): void;
}

/**
 * Stands in for the Kubernetes API server, for the few kubectl commands the library's scripts use:
 * `get pods -l <selector> -o name`, `label pod <name> <key>=<value> [--overwrite]`, `label pod <name> <key>-`
 * and `exec <pod> -c <container> -- <command...>`. Every request is authorized with RBAC, from the
 * Roles and RoleBindings in the synthesized manifests, for the ServiceAccount of the calling pod.
 * Anything else fails, so a script that starts using more of kubectl fails its tests until this grows.
 */
export class ApiStandIn {
  private readonly server: http.Server;

  constructor(private readonly backend: ApiBackend, public readonly socket: string) {
    this.server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', chunk => chunks.push(chunk));
      request.on('end', async () => {
        const { token, args } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        const account = this.backend.accountOfToken(token);
        const result = account ? await this.kubectl(account, args) : { code: 1, stdout: '', stderr: 'error: You must be logged in to the server (Unauthorized)\n' };
        response.end(JSON.stringify(result));
      });
    });
  }

  public listen(): Promise<void> {
    fs.rmSync(this.socket, { force: true });
    return new Promise(resolve => this.server.listen(this.socket, () => {
      fs.chmodSync(this.socket, 0o666);
      resolve();
    }));
  }

  public close(): void {
    this.server.close();
    // kubectl stand-ins keep their connections alive; they must not hold the test process open.
    this.server.closeAllConnections();
  }

  private async kubectl(account: string, args: string[]): Promise<Result> {
    try {
      const { positional, flags, command } = parseArgs(args);
      const [verb, ...rest] = positional;
      if (verb === 'get' && rest[0] === 'pods' && rest.length === 1 && flags.o === 'name') {
        this.authorize(account, 'list', 'pods');
        const selector = parseSelector(flags.l ?? '');
        const names = this.backend.livePods().filter(p => matchesSelector(p.labels, selector)).map(p => p.name).sort();
        return ok(names.map(n => `pod/${n}\n`).join(''));
      }
      if (verb === 'label' && rest[0] === 'pod' && rest.length === 3) {
        const pod = this.pod(account, rest[1], ['get', 'patch'], 'pods');
        return this.label(pod, rest[2], flags.overwrite === 'true');
      }
      if (verb === 'exec' && rest.length === 1 && flags.c && command.length > 0) {
        const pod = this.pod(account, rest[0], ['create'], 'pods/exec');
        return await pod.container(flags.c).exec(command, 120_000);
      }
      return { code: 2, stdout: '', stderr: `kubectl stand-in: unsupported command: kubectl ${args.join(' ')}\n` };
    } catch (error) {
      return { code: 1, stdout: '', stderr: `${(error as Error).message}\n` };
    }
  }

  private pod(account: string, name: string, verbs: string[], resource: string): Pod {
    for (const verb of verbs) this.authorize(account, verb, resource, name);
    const pod = this.backend.livePods().find(p => p.name === name);
    if (!pod) throw new Error(`Error from server (NotFound): pods "${name}" not found`);
    return pod;
  }

  private label(pod: Pod, change: string, overwrite: boolean): Result {
    if (change.endsWith('-')) {
      const key = change.slice(0, -1);
      if (!(key in pod.labels)) return { code: 0, stdout: `pod/${pod.name} unlabeled\n`, stderr: `label "${key}" not found.\n` };
      delete pod.labels[key];
    } else {
      const [key, value] = change.split('=');
      if (key in pod.labels && pod.labels[key] !== value && !overwrite) {
        return { code: 1, stdout: '', stderr: `error: '${key}' already has a value (${pod.labels[key]}), and --overwrite is false\n` };
      }
      pod.labels[key] = value;
    }
    this.backend.onLabelsChange(pod);
    return ok(`pod/${pod.name} labeled\n`);
  }

  /** RBAC: some Role bound to the account allows the verb on the resource (and name). */
  private authorize(account: string, verb: string, resource: string, name?: string): void {
    const roles = this.backend.manifests.all('RoleBinding')
      .filter(b => (b.subjects ?? []).some((s: any) => s.kind === 'ServiceAccount' && s.name === account
        && (s.namespace ?? this.backend.namespace) === this.backend.namespace))
      .map(b => this.backend.manifests.get(b.roleRef.kind, b.roleRef.name));
    const allowed = roles.some(role => (role.rules ?? []).some((rule: any) =>
      (rule.apiGroups ?? []).includes('')
      && (rule.resources ?? []).includes(resource)
      && ((rule.verbs ?? []).includes(verb) || (rule.verbs ?? []).includes('*'))
      && (!rule.resourceNames || (name !== undefined && rule.resourceNames.includes(name)))));
    if (!allowed) {
      throw new Error(`Error from server (Forbidden): ${resource} ${name ? `"${name}" ` : ''}is forbidden: User `
        + `"system:serviceaccount:${this.backend.namespace}:${account}" cannot ${verb} resource "${resource}"`);
    }
  }
}

function ok(stdout: string): Result {
  return { code: 0, stdout, stderr: '' };
}

function parseArgs(args: string[]): { positional: string[]; flags: Record<string, string>; command: string[] } {
  const positional: string[] = [];
  const flags: Record<string, string> = {};
  let i = 0;
  for (; i < args.length && args[i] !== '--'; i++) {
    const arg = args[i];
    if (arg === '--overwrite') flags.overwrite = 'true';
    else if (arg === '-l' || arg === '-o' || arg === '-c' || arg === '-n') flags[arg.slice(1)] = args[++i];
    else if (arg.startsWith('-')) throw new Error(`kubectl stand-in: unsupported flag ${arg}`);
    else positional.push(arg);
  }
  return { positional, flags, command: args.slice(i + 1) };
}

function parseSelector(selector: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const term of selector.split(',').filter(Boolean)) {
    const [key, value] = term.split('=');
    if (value === undefined) throw new Error(`kubectl stand-in: unsupported selector ${term}`);
    result[key] = value;
  }
  return result;
}
