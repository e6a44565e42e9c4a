import * as fs from 'fs';
import { run } from './exec';

/** The hub bridge's MAC, fixed (see the constructor). */
const HUB_MAC = '02:00:c6:12:01:01';

/**
 * The emulated pod network, all inside network namespaces this run creates: a hub namespace holds
 * a bridge, the Service addresses and the Service proxy; every pod has its own namespace, linked
 * to the bridge by a veth pair, with its own address (198.18.1.0/24, a range reserved for tests).
 * Names resolve through per-namespace hosts files (`ip netns exec` mounts /etc/netns/<ns>/hosts as
 * /etc/hosts), rewritten in place whenever pods come and go, as cluster DNS would answer.
 */
export class PodNetwork {
  public readonly hub: string;
  public readonly subnet: number;
  private readonly namespaces = new Set<string>();
  /** The hub-side end of each pod's veth pair, by the pod's namespace. */
  private readonly links = new Map<string, string>();
  private nextHost = 10;
  /** Control-plane addresses that every pod routes over its control-plane link. */
  private readonly routed: string[] = [];
  private nextLink = 0;
  /**
   * Every address on the pod network (the hub's and each pod's) with the MAC that answers for it and the namespace
   * that holds it. Each namespace knows the others' MACs from the start (permanent neighbour entries), as a cloud
   * network's virtual routers do: no ARP on this network. A link taken down (a partition, a dead node) would otherwise
   * leave the neighbour entries that were resolving meanwhile to hold their packets until the next ARP probe, a second
   * later, after the link is back: a dead pod's address refused only then, a healed partition quiet for a second more.
   */
  private readonly neighbours = new Map<string, { mac: string; netns: string }>();

  constructor(public readonly prefix: string, subnet = 1) {
    // Every run has its own hub and bridge, so runs side by side may use the same addresses.
    this.subnet = subnet;
    this.hub = `${prefix}-hub`;
    this.addNamespace(this.hub);
    run('ip', ['-n', this.hub, 'link', 'add', 'br0', 'type', 'bridge']);
    // A bridge takes the lowest MAC of its ports unless given one: each new pod's veth could change it, and
    // every pod would then send Service traffic to a stale MAC until its ARP entry expired.
    run('ip', ['-n', this.hub, 'link', 'set', 'br0', 'address', HUB_MAC]);
    run('ip', ['-n', this.hub, 'link', 'set', 'br0', 'up']);
    run('ip', ['-n', this.hub, 'addr', 'add', `${this.address(1)}/24`, 'dev', 'br0']);
    this.neighbours.set(this.address(1), { mac: HUB_MAC, netns: this.hub });
    // The control plane's own network (198.19.x.0/24): every pod reaches the API server over a link of its own, so that
    // a pod cut off from its peers (its pod network link down) may still reach the API, as a node partitioned from
    // other nodes but not from the control plane does.
    run('ip', ['-n', this.hub, 'link', 'add', 'br1', 'type', 'bridge']);
    run('ip', ['-n', this.hub, 'link', 'set', 'br1', 'address', '02:00:c6:13:01:01']);
    run('ip', ['-n', this.hub, 'link', 'set', 'br1', 'up']);
    run('ip', ['-n', this.hub, 'addr', 'add', `${this.controlAddress(1)}/24`, 'dev', 'br1']);
  }

  private controlAddress(host: number): string {
    return `198.19.${this.subnet}.${host}`;
  }

  public address(host: number): string {
    return `198.18.${this.subnet}.${host}`;
  }

  /** An extra address on the hub, for a Service. */
  public addServiceAddress(host: number): string {
    const address = this.address(host);
    run('ip', ['-n', this.hub, 'addr', 'add', `${address}/32`, 'dev', 'br0']);
    this.announce(address, HUB_MAC, this.hub);
    return address;
  }

  /**
   * An address of the control plane on the hub (the `kubernetes` Service's, 10.96.0.1): every pod, now and later,
   * reaches it over its control-plane link, through the hub.
   */
  public addControlPlaneAddress(address: string): void {
    run('ip', ['-n', this.hub, 'addr', 'add', `${address}/32`, 'dev', 'br1']);
    this.routed.push(address);
    for (const netns of this.links.keys()) this.route(netns, address);
  }

  private route(netns: string, address: string): void {
    run('ip', ['-n', netns, 'route', 'add', `${address}/32`, 'via', this.controlAddress(1), 'dev', 'api0']);
  }

  /** A namespace for one pod, linked to the bridge; returns its name and address. */
  public addPodNamespace(podName: string): { netns: string; ip: string } {
    const netns = `${this.prefix}-${podName}`;
    if (this.nextHost > 254) throw new Error(`no address left in ${this.address(0)}/24 for pod ${podName}`);
    const ip = this.address(this.nextHost++);
    const link = `v${this.nextLink++}`;
    this.addNamespace(netns);
    run('ip', ['-n', this.hub, 'link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
    run('ip', ['-n', this.hub, 'link', 'set', link, 'master', 'br0', 'up']);
    run('ip', ['-n', netns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    run('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
    this.links.set(netns, link);
    for (const [address, { mac }] of this.neighbours) this.pin(netns, address, mac);
    const [eth0] = JSON.parse(run('ip', ['-n', netns, '-j', 'link', 'show', 'eth0'])) as Array<{ address: string }>;
    this.announce(ip, eth0.address, netns);
    const control = `a${this.nextLink - 1}`;
    run('ip', ['-n', this.hub, 'link', 'add', control, 'type', 'veth', 'peer', 'name', 'api0', 'netns', netns]);
    run('ip', ['-n', this.hub, 'link', 'set', control, 'master', 'br1', 'up']);
    run('ip', ['-n', netns, 'addr', 'add', `${this.controlAddress(this.nextHost - 1)}/24`, 'dev', 'api0']);
    run('ip', ['-n', netns, 'link', 'set', 'api0', 'up']);
    for (const address of this.routed) this.route(netns, address);
    return { netns, ip };
  }

  /**
   * Partitions a pod from the network: the hub end of its veth goes down, so the pod's link loses its
   * carrier. Its frames are dropped and none reach it; nothing is refused, so peers and clients see
   * timeouts as across a real partition. Its processes, addresses and routes stay.
   */
  public disconnect(netns: string): void {
    run('ip', ['-n', this.hub, 'link', 'set', this.linkOf(netns), 'down']);
  }

  public reconnect(netns: string): void {
    run('ip', ['-n', this.hub, 'link', 'set', this.linkOf(netns), 'up']);
  }

  /**
   * Destroys every TCP socket left in a namespace (those of processes that died hold what they had not sent, and
   * would send it, or their FIN, once the link is back): a node that failed comes back with nothing of them.
   */
  public dropSockets(netns: string): void {
    run('ip', ['netns', 'exec', netns, 'ss', '-K', '-tan']);
  }

  /** An address on the pod network, made known to every other namespace on it. */
  private announce(address: string, mac: string, owner: string): void {
    this.neighbours.set(address, { mac, netns: owner });
    for (const netns of [this.hub, ...this.links.keys()]) if (netns !== owner) this.pin(netns, address, mac);
  }

  private pin(netns: string, address: string, mac: string): void {
    run('ip', ['-n', netns, 'neigh', 'replace', address, 'lladdr', mac, 'dev', netns === this.hub ? 'br0' : 'eth0', 'nud', 'permanent']);
  }

  private linkOf(netns: string): string {
    const link = this.links.get(netns);
    if (!link) throw new Error(`no pod network namespace ${netns}`);
    return link;
  }

  /** Writes a namespace's /etc/hosts in place (its bind mount follows the inode, not the name). */
  public writeHosts(netns: string, entries: ReadonlyArray<[string, string[]]>): void {
    const text = ['127.0.0.1 localhost', ...entries.map(([ip, names]) => `${ip} ${names.join(' ')}`)].join('\n') + '\n';
    const file = `/etc/netns/${netns}/hosts`;
    if (fs.readFileSync(file, 'utf8') === text) return;
    // Overwrite, then cut to length: a reader never finds the file empty, as it would after a truncating write.
    const fd = fs.openSync(file, 'r+');
    try {
      const bytes = Buffer.from(text);
      fs.writeSync(fd, bytes, 0, bytes.length, 0);
      fs.ftruncateSync(fd, bytes.length);
    } finally {
      fs.closeSync(fd);
    }
  }

  public get allNamespaces(): string[] {
    return [...this.namespaces];
  }

  /** Pids of every process in a namespace. */
  public pids(netns: string): number[] {
    try {
      return run('ip', ['netns', 'pids', netns]).split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  public destroy(): void {
    for (const netns of this.namespaces) {
      for (const pid of this.pids(netns)) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
      }
    }
    for (const netns of this.namespaces) {
      try { run('ip', ['netns', 'del', netns]); } catch { /* already gone */ }
      fs.rmSync(`/etc/netns/${netns}`, { recursive: true, force: true });
    }
    this.namespaces.clear();
    this.links.clear();
  }

  private addNamespace(netns: string): void {
    run('ip', ['netns', 'add', netns]);
    this.namespaces.add(netns);
    run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    const etc = `/etc/netns/${netns}`;
    fs.mkdirSync(etc, { recursive: true });
    fs.writeFileSync(`${etc}/hosts`, '127.0.0.1 localhost\n');
    // The postgres image's user is uid/gid 999; the host's postgres user may have another id.
    fs.writeFileSync(`${etc}/passwd`, withPostgresUser(fs.readFileSync('/etc/passwd', 'utf8'), 'postgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/bash'));
    fs.writeFileSync(`${etc}/group`, withPostgresUser(fs.readFileSync('/etc/group', 'utf8'), 'postgres:x:999:'));
  }
}

function withPostgresUser(file: string, line: string): string {
  const kept = file.split('\n').filter(l => l && !l.startsWith('postgres:') && !/^[^:]*:[^:]*:999:/.test(l));
  return [...kept, line].join('\n') + '\n';
}

/** Removes namespaces and /etc/netns entries that an interrupted earlier run left behind. */
export function removeStaleNamespaces(prefixPattern: RegExp, isAlive: (pid: number) => boolean): void {
  let list = '';
  try { list = run('ip', ['netns', 'list']); } catch { return; }
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0];
    const match = prefixPattern.exec(name);
    if (!match || isAlive(Number(match[1]))) continue;
    try { run('ip', ['netns', 'del', name]); } catch { /* gone */ }
    fs.rmSync(`/etc/netns/${name}`, { recursive: true, force: true });
  }
}
