/**
 * Every object name, label and port of one cluster, derived once from its name.
 * The defaults (`name: 'postgres'`) reproduce the reference design's names.
 */
export interface ClusterNames {
  readonly cluster: string;
  readonly statefulSet: string;
  readonly headlessService: string;
  readonly writeService: string;
  readonly readService: string;
  readonly anyService: string;
  readonly configMap: string;
  readonly initConfigMap: string;
  readonly scriptsConfigMap: string;
  readonly secret: string;
  /** The application role's Secret. */
  readonly appSecret: string;
  readonly podServiceAccount: string;
  readonly failover: string;
  /** The leader record: a coordination.k8s.io/v1 Lease that names the primary (created at run time). */
  readonly leaderRecord: string;
  /** The pgBackRest repository's claim (walArchive), and its backup CronJobs' prefix. */
  readonly archive: string;
  readonly storageVolume: string;
  /** Labels that select exactly this cluster's pods (immutable StatefulSet selector). */
  readonly selector: { readonly [key: string]: string };
  /** Labels put on every object of the cluster. */
  readonly common: { readonly [key: string]: string };
}

/** The pod label that carries a pod's replication role. */
export const ROLE_LABEL = 'role';

/** The heartbeat fence's container (lease-fence.sh), with automatic failover. */
export const LEASE_FENCE_CONTAINER = 'lease-fence';
export const PRIMARY_ROLE = 'primary';
export const REPLICA_ROLE = 'replica';

export const POSTGRES_PORT = 5432;
export const POSTGRES_PORT_NAME = 'postgres';
export const POSTGRES_CONTAINER = 'postgres';
export const LABELER_CONTAINER = 'role-labeler';
/** Annotations of the leader record are "<prefix>/<field>" (see src/scripts/leader-record.sh). */
export const RECORD_ANNOTATION_PREFIX = 'postgres.cdk8s.io';

/** Where the pods see their volumes (container paths). */
export const PATHS = {
  dataVolume: '/var/lib/postgresql/data',
  pgdata: '/var/lib/postgresql/data/pgdata',
  configDir: '/etc/postgresql',
  initDir: '/docker-entrypoint-initdb.d/',
  scriptsDir: '/opt/postgres-cluster',
  /** Unix socket, and the leader record's copy that the sidecar hands to the entrypoint. */
  runDir: '/var/run/postgresql',
  serviceAccountDir: '/var/run/secrets/kubernetes.io/serviceaccount',
  /** The Secrets, mounted for the sidecar (the kubelet updates the files when a Secret changes). */
  secretDir: '/etc/postgres-cluster/secret',
  appSecretDir: '/etc/postgres-cluster/app-secret',
  /** The server certificate's Secret (tlsSecretName), mounted in the postgres container. */
  tlsSecretDir: '/etc/postgres-cluster/tls',
  /** The pod's libpq password file, shared by the postgres container and the sidecar (memory only). */
  credentialsDir: '/var/run/postgres-credentials',
  /** The pgBackRest repository's volume (walArchive), in the postgres container and the sidecar. */
  archiveDir: '/var/lib/pgbackrest',
  /** The repository that a new cluster is restored from (restoreFrom), when it is not the cluster's own. */
  restoreArchiveDir: '/var/lib/pgbackrest-source',
  /** The CA of an S3, Azure or GCS repository's endpoint (walArchive.s3, .azure or .gcs's caCertificate), in the postgres container. */
  archiveCaDir: '/etc/postgres-cluster/archive-ca',
  /** The CA of the S3, Azure or GCS endpoint that a new cluster is restored from (restoreFrom.s3, .azure or .gcs's caCertificate), in the postgres container. */
  restoreCaDir: '/etc/postgres-cluster/restore-ca',
  /** A GCS repository's service account key (walArchive.gcs, GcsCredentials.fromServiceAccountKey), in the postgres container. */
  archiveGcsKeyDir: '/etc/postgres-cluster/archive-gcs-key',
  /** The service account key of the GCS bucket that a new cluster is restored from (restoreFrom.gcs), in the postgres container. */
  restoreGcsKeyDir: '/etc/postgres-cluster/restore-gcs-key',
  /** pgBackRest's configuration, a key of the cluster's ConfigMap. */
  pgbackrestConf: '/etc/postgresql/pgbackrest.conf',
  /** The configuration of a restore from another cluster's repository (restoreFrom), a key of the cluster's ConfigMap. */
  pgbackrestRestoreConf: '/etc/postgresql/pgbackrest-restore.conf',
} as const;

/** The file name of the S3 endpoint's CA in its volume (PATHS.archiveCaDir). */
export const S3_CA_FILE = 'ca.crt';

/** The file name of a GCS service account's key in its volume (PATHS.archiveGcsKeyDir, PATHS.restoreGcsKeyDir). */
export const GCS_KEY_FILE = 'key.json';

/** The primary's renewal deadline (automatic failover), written by its agent, read by its heartbeat fence. */
export const LEASE_DEADLINE_FILE = `${PATHS.runDir}/lease-deadline`;

/**
 * Timing of the record's safety rules. A primary's sidecar fences it after ISOLATION seconds without
 * reading the record; a failover job that cannot reach the old primary waits twice that before it promotes.
 */
export const ISOLATION_FENCE_SECONDS = 10;

/** The uid/gid of the `postgres` user in the official postgres images. */
export const POSTGRES_UID = 999;

/** The superuser's name (POSTGRES_USER of the official images). */
export const SUPERUSER = 'postgres';

export function clusterNames(name: string): ClusterNames {
  const selector = { 'app': name, 'app.kubernetes.io/instance': name };
  return {
    cluster: name,
    statefulSet: `${name}-cluster`,
    headlessService: `${name}-headless`,
    writeService: `${name}-write`,
    readService: `${name}-read`,
    anyService: `${name}-any`,
    configMap: `${name}-config`,
    initConfigMap: `${name}-init`,
    scriptsConfigMap: `${name}-cluster-init`,
    secret: `${name}-secret`,
    appSecret: `${name}-app`,
    podServiceAccount: `${name}-cluster`,
    failover: `${name}-failover`,
    leaderRecord: `${name}-leader`,
    archive: `${name}-archive`,
    storageVolume: `${name}-storage`,
    selector,
    common: {
      'app.kubernetes.io/name': 'postgresql',
      'app.kubernetes.io/instance': name,
      'app.kubernetes.io/managed-by': 'cdk8s-postgres-cluster',
    },
  };
}

/** Names of the pods a StatefulSet of this cluster can have, up to `count`. */
export function podNames(names: ClusterNames, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${names.statefulSet}-${i}`);
}
