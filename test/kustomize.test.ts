import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';

const DIST = path.join(__dirname, '..', 'dist', 'postgres-cluster.k8s.yaml');

/** `kubectl kustomize` over an overlay of dist/ as a base: the objects it builds. */
function kustomize(overlay: string): any[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kustomize-'));
  try {
    fs.mkdirSync(path.join(dir, 'base'));
    fs.copyFileSync(DIST, path.join(dir, 'base', 'postgres-cluster.k8s.yaml'));
    fs.writeFileSync(path.join(dir, 'base', 'kustomization.yaml'), 'resources:\n  - postgres-cluster.k8s.yaml\n');
    fs.mkdirSync(path.join(dir, 'overlay'));
    fs.writeFileSync(path.join(dir, 'overlay', 'kustomization.yaml'), overlay);
    const result = spawnSync('kubectl', ['kustomize', path.join(dir, 'overlay')], { encoding: 'utf8' });
    if (result.error) throw new Error(`kubectl is not installed (Debian package kubernetes-client; npm test installs it as root): ${result.error.message}`);
    if (result.status !== 0) throw new Error(`kubectl kustomize failed:\n${result.stderr}`);
    return parseAllDocuments(result.stdout).map(d => d.toJSON());
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('dist/ as a kustomize base', () => {
  const base = parseAllDocuments(fs.readFileSync(DIST, 'utf8')).map(d => d.toJSON());
  const built = kustomize('resources:\n  - ../base\nnamespace: payments\ncommonLabels:\n  team: payments\n');
  const find = (kind: string, name: string) => built.find(o => o.kind === kind && o.metadata.name === name);

  test('an overlay that sets a namespace and a label builds every object of the base', () => {
    expect(built.map(o => `${o.kind}/${o.metadata.name}`).sort()).toEqual(base.map(o => `${o.kind}/${o.metadata.name}`).sort());
  });

  test("the overlay's namespace reaches every object", () => {
    expect(built.filter(o => o.metadata.namespace !== 'payments').map(o => `${o.kind}/${o.metadata.name}`)).toEqual([]);
  });

  test('the RoleBindings grant their Role to the service accounts of the overlay\'s namespace', () => {
    const bindings = built.filter(o => o.kind === 'RoleBinding');
    expect(bindings.length).toBeGreaterThan(0);
    for (const binding of bindings) {
      for (const subject of binding.subjects) {
        expect(subject.kind).toBe('ServiceAccount');
        // No namespace means the binding's own (the RBAC authorizer's rule for ServiceAccount subjects).
        expect(subject.namespace ?? binding.metadata.namespace).toBe('payments');
        expect(built.some(o => o.kind === 'ServiceAccount' && o.metadata.name === subject.name)).toBe(true);
      }
    }
  });

  test('nothing in the scripts or settings names the base\'s namespace: every name is relative to the pod\'s own', () => {
    // The agent's bundle is JavaScript, where `.default` is a module's default export: it is held to the names alone.
    const scripts = find('ConfigMap', 'postgres-cluster-init');
    const { ['agent.js']: agent, ...rest } = scripts.data;
    const text = JSON.stringify(built.map(o => (o === scripts ? { ...o, data: rest } : o)));
    expect(text).not.toMatch(/\.default\.svc|\.default\b|namespace: default|"namespace":"default"/);
    expect(agent).not.toMatch(/\.default\.svc|namespaces\/default|namespace: default|"namespace":"default"/);
    const statefulSet = find('StatefulSet', 'postgres-cluster');
    const env = Object.fromEntries(statefulSet.spec.template.spec.containers.flatMap((c: any) => c.env ?? [])
      .filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value]));
    expect(env).toMatchObject({ PRIMARY_HOST: 'postgres-write', PEER_DOMAIN: 'postgres-headless' });
  });

  test('the label reaches the pods, and the selectors still select them', () => {
    const statefulSet = find('StatefulSet', 'postgres-cluster');
    expect(statefulSet.spec.template.metadata.labels.team).toBe('payments');
    for (const [key, value] of Object.entries(statefulSet.spec.selector.matchLabels)) {
      expect(statefulSet.spec.template.metadata.labels[key]).toBe(value);
    }
    for (const service of built.filter(o => o.kind === 'Service')) {
      for (const [key, value] of Object.entries(service.spec.selector)) {
        if (key === 'role') continue; // set on the pods at run time by the sidecar
        expect(statefulSet.spec.template.metadata.labels[key]).toBe(value);
      }
    }
  });

  test('the NetworkPolicies still select the pods they protect, and still let in clients that lack the label', () => {
    const podLabels = find('StatefulSet', 'postgres-cluster').spec.template.metadata.labels;
    const jobPodLabels = find('CronJob', 'postgres-failover').spec.jobTemplate.spec.template.metadata.labels;
    const selects = (selector: any, labels: Record<string, string>) =>
      Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value);
    const cluster = find('NetworkPolicy', 'postgres-cluster');
    expect(selects(cluster.spec.podSelector, podLabels)).toBe(true);
    expect(selects(find('NetworkPolicy', 'postgres-failover').spec.podSelector, jobPodLabels)).toBe(true);
    // The peers that name the cluster's pods took the label, as the pods did; the clients' peer (any pod) did not.
    expect(cluster.spec.ingress[0].from.map((peer: any) => peer.podSelector.matchLabels?.team)).toEqual(['payments', 'payments', undefined]);
    expect(cluster.spec.ingress[0].from[2]).toEqual({ podSelector: {} });
    const backupPodLabels = find('CronJob', 'postgres-backup').spec.jobTemplate.spec.template.metadata.labels;
    expect(selects(cluster.spec.ingress[0].from[1].podSelector, backupPodLabels)).toBe(true);
    expect(selects(find('NetworkPolicy', 'postgres-backup').spec.podSelector, backupPodLabels)).toBe(true);
  });
});
