import type { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { FailoverJob } from './failover-job';
import { LogicalBackup } from './logical-backup';
import { PostgresStatefulSet } from './postgres-stateful-set';
import { addObject } from './private/api-object';
import { api, asJson, intOrString } from './private/k8s';
import { METRICS_PORT } from './private/metrics';
import { POSTGRES_PORT } from './private/names';
import { validateLabelSelector } from './private/validation';
import { WalArchive } from './wal-archive';

/** Ports of the Kubernetes API server: 443 where the `kubernetes` Service leads, 6443 where its endpoints usually listen. */
const API_SERVER_PORTS = [443, 6443];
const DNS_PORT = 53;

/**
 * Who may reach the cluster's pods: the chart's NetworkPolicy options.
 */
export interface PostgresNetworkPolicyOptions {
  /**
   * Labels of the pods that may connect to PostgreSQL (port 5432), e.g. `{ "orders-db-client": "true" }`; in the
   * namespaces that `clientNamespaceSelector` selects. `{}` selects every pod.
   * @default - every pod of those namespaces
   */
  readonly clientSelector?: { [key: string]: string };

  /**
   * Labels of the namespaces whose pods (those that `clientSelector` selects) may connect to PostgreSQL, e.g.
   * `{ "kubernetes.io/metadata.name": "shop" }`. `{}` selects every namespace.
   * @default - the cluster's own namespace only
   */
  readonly clientNamespaceSelector?: { [key: string]: string };

  /**
   * Labels of the pods that may scrape the metrics sidecars (port 9187), e.g. `{ "app.kubernetes.io/name": "prometheus" }`;
   * in the namespaces that `metricsScraperNamespaceSelector` selects. `{}` selects every pod.
   * @default - every pod of those namespaces
   */
  readonly metricsScraperSelector?: { [key: string]: string };

  /**
   * Labels of the namespaces whose pods (those that `metricsScraperSelector` selects) may scrape the metrics
   * sidecars, e.g. `{ "kubernetes.io/metadata.name": "monitoring" }`. `{}` selects every namespace.
   * @default - the cluster's own namespace only
   */
  readonly metricsScraperNamespaceSelector?: { [key: string]: string };
}

/**
 * Properties of {@link PostgresNetworkPolicy}.
 */
export interface PostgresNetworkPolicyProps extends PostgresNetworkPolicyOptions {
  /**
   * The StatefulSet whose pods the policy protects.
   */
  readonly statefulSet: PostgresStatefulSet;

  /**
   * The failover job, whose pods get a policy of their own: the API server only.
   * @default - no policy for failover job pods
   */
  readonly failoverJob?: FailoverJob;

  /**
   * The logical backup, whose pods may reach PostgreSQL (port 5432) and DNS, and nothing else.
   * @default - no policy for backup pods, and none lets them in
   */
  readonly backup?: LogicalBackup;

  /**
   * The WAL archive, whose backup jobs' pods get a policy of their own: the API server only (they run pgBackRest in
   * the primary's pod through `kubectl exec`).
   * @default - no policy for the archive's backup pods
   */
  readonly walArchive?: WalArchive;
}

/**
 * NetworkPolicies that deny every connection the cluster does not need (a network plugin that enforces them,
 * such as Calico or Cilium, must be installed; without one they change nothing). The policy `<name>-cluster`
 * lets into the pods only clients (`clientSelector`) and the cluster's own pods (replication, pg_basebackup,
 * pg_rewind) on port 5432, and scrapers (`metricsScraperSelector`) on the metrics port 9187; out of them only
 * connections to each other on 5432, DNS (port 53, UDP and TCP, to any address: cluster DNS may run as pods or
 * on the nodes) and the Kubernetes API server (TCP 443 and 6443 to any address: its address is not known at
 * synth, and network plugins see the `kubernetes` Service's port 443 or, after it, the API server's own,
 * often 6443). The policy `<name>-failover` lets the failover job's pods reach the API server only (they
 * reach the database pods through `kubectl exec`), and nothing reach them; `<name>-backup` lets the backup job's
 * pods reach PostgreSQL (5432 on the cluster's pods, which let them in) and DNS only; `<name>-archive-backup`, the
 * WAL archive's backup pods, the API server only.
 */
export class PostgresNetworkPolicy extends Construct {
  /** Name of the NetworkPolicy of the cluster's pods. */
  public readonly name: string;
  /** Name of the NetworkPolicy of the failover job's pods, when there is one. */
  public readonly failoverPolicyName?: string;
  /** Name of the NetworkPolicy of the backup job's pods, when there is one. */
  public readonly backupPolicyName?: string;
  /** Name of the NetworkPolicy of the WAL archive's backup pods, when there is one. */
  public readonly archiveBackupPolicyName?: string;

  constructor(scope: Construct, id: string, props: PostgresNetworkPolicyProps) {
    super(scope, id);
    const owner = `PostgresNetworkPolicy ${this.node.path}`;
    const statefulSet = props.statefulSet;
    const names = statefulSet.config._names;
    for (const prop of ['clientSelector', 'clientNamespaceSelector', 'metricsScraperSelector', 'metricsScraperNamespaceSelector'] as const) {
      validateLabelSelector(owner, prop, props[prop]);
    }
    if (!statefulSet.metrics) {
      for (const prop of ['metricsScraperSelector', 'metricsScraperNamespaceSelector'] as const) {
        if (props[prop] !== undefined) {
          throw new Error(`${owner}: ${prop} is set but the StatefulSet has no metrics sidecar (metrics is false): there is nothing to scrape. `
            + `Drop ${prop}, or set metrics to true.`);
        }
      }
    }
    this.name = statefulSet.name;
    const cluster: k8s.NetworkPolicyPeer = { podSelector: { matchLabels: { ...statefulSet.selectorLabels } } };
    const tcp = (port: number): k8s.NetworkPolicyPort => ({ protocol: 'TCP', port: intOrString(port) });
    const toApiServer: k8s.NetworkPolicyEgressRule = { ports: API_SERVER_PORTS.map(tcp) };
    const objectStore = statefulSet.config.walArchive?.s3 ?? statefulSet.config.walArchive?.azure;
    const restoreStore = statefulSet.config.restore?.s3 ?? statefulSet.config.restore?.azure;
    const gcsPorts = [...new Set([statefulSet.config.walArchive?.gcs, statefulSet.config.restore?.gcs].flatMap(gcs => !gcs ? []
      : [gcs.port, ...gcs.keyType === 'service' ? [443] : [], ...gcs.keyType === 'auto' ? [80, 988] : []]))].sort((a, b) => a - b);
    const toDns: k8s.NetworkPolicyEgressRule = { ports: [{ protocol: 'UDP', port: intOrString(DNS_PORT) }, tcp(DNS_PORT)] };

    const backupPods: k8s.NetworkPolicyPeer[] = props.backup ? [{ podSelector: { matchLabels: { ...props.backup.selectorLabels } } }] : [];
    const ingress: k8s.NetworkPolicyIngressRule[] = [
      { from: [cluster, ...backupPods, peer(props.clientSelector, props.clientNamespaceSelector)], ports: [tcp(POSTGRES_PORT)] },
    ];
    if (statefulSet.metrics) {
      ingress.push({ from: [peer(props.metricsScraperSelector, props.metricsScraperNamespaceSelector)], ports: [tcp(METRICS_PORT)] });
    }
    addObject(this, 'Resource', api.KubeNetworkPolicy.GVK, asJson<k8s.KubeNetworkPolicyProps>({
      metadata: { name: this.name, labels: { ...names.common } },
      spec: {
        podSelector: { matchLabels: { ...statefulSet.selectorLabels } },
        policyTypes: ['Ingress', 'Egress'],
        ingress,
        egress: [
          // Streaming, pg_basebackup and pg_rewind, to a peer by name or through the write Service.
          { to: [cluster], ports: [tcp(POSTGRES_PORT)] },
          toDns,
          // The role-labeler sidecar keeps the leader record and the pods' labels.
          toApiServer,
          // pgBackRest to the S3 or Azure repository, outside the cluster: by its port only (a policy cannot name a host).
          ...(objectStore ? [{ ports: [tcp(objectStore.port)] }] : []),
          // And to the bucket or container a new cluster is restored from (restoreFrom.s3 or .azure), when its port is another.
          ...(restoreStore && restoreStore.port !== objectStore?.port ? [{ ports: [tcp(restoreStore.port)] }] : []),
          // pgBackRest to a GCS repository (walArchive.gcs, restoreFrom.gcs), by port: the endpoint's; a service account's
          // token endpoint (oauth2.googleapis.com:443); Workload Identity's metadata server (80, and 988 on GKE Dataplane V2).
          ...gcsPorts.length > 0 ? [{ ports: gcsPorts.map(tcp) }] : [],
        ],
      },
    }));

    // A job's pods: nothing in, and out only what the job needs.
    const jobPolicy = (objectId: string, name: string, job: { selectorLabels: { [key: string]: string } }, egress: k8s.NetworkPolicyEgressRule[]) =>
      addObject(this, objectId, api.KubeNetworkPolicy.GVK, asJson<k8s.KubeNetworkPolicyProps>({
        metadata: { name, labels: { ...names.common } },
        spec: { podSelector: { matchLabels: { ...job.selectorLabels } }, policyTypes: ['Ingress', 'Egress'], egress },
      }));
    if (props.backup) {
      this.backupPolicyName = props.backup.cronJobName;
      // pg_dump through the write Service, whose name it looks up; the copy of the dumps to the bucket's port (backupS3).
      jobPolicy('Backup', this.backupPolicyName, props.backup, [{ to: [cluster], ports: [tcp(POSTGRES_PORT)] }, toDns,
        ...(props.backup.s3 ? [{ ports: [tcp(props.backup.s3.port)] }] : [])]);
    }
    if (props.failoverJob) {
      this.failoverPolicyName = props.failoverJob.cronJobName;
      // kubectl finds the API server by the address in KUBERNETES_SERVICE_HOST: no DNS.
      jobPolicy('Failover', this.failoverPolicyName, props.failoverJob, [toApiServer]);
    }
    if (props.walArchive) {
      this.archiveBackupPolicyName = `${names.archive}-backup`;
      // kubectl exec into the primary, through the API server.
      jobPolicy('ArchiveBackup', this.archiveBackupPolicyName, props.walArchive, [toApiServer]);
    }
  }
}

/**
 * Pods given by labels in namespaces given by labels; no namespace selector means the policy's own namespace.
 * The pod labels are written as matchExpressions: kustomize's commonLabels adds its labels to every matchLabels of
 * a NetworkPolicy, which would shut out clients that do not carry them.
 */
function peer(podLabels: { [key: string]: string } | undefined, namespaceLabels: { [key: string]: string } | undefined): k8s.NetworkPolicyPeer {
  const podSelector: k8s.LabelSelector = Object.keys(podLabels ?? {}).length === 0 ? {} : {
    matchExpressions: Object.entries(podLabels!).sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, value]) => ({ key, operator: 'In', values: [value] })),
  };
  if (namespaceLabels === undefined) return { podSelector };
  return { namespaceSelector: Object.keys(namespaceLabels).length === 0 ? {} : { matchLabels: { ...namespaceLabels } }, podSelector };
}
