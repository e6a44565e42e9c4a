import { Chart } from 'cdk8s';
import type { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { AutomaticFailoverConfig, SidecarConfig, SIDECAR_CONFIG_VERSION } from './agent/config';
import { addObject } from './private/api-object';
import { api, asJson } from './private/k8s';
import { METRICS_QUERIES, METRICS_QUERIES_KEY, METRICS_USER, MONITORING_ROLE_SCRIPT, MONITORING_ROLE_SQL } from './private/metrics';
import { clusterNames, ClusterNames, GCS_KEY_FILE, ISOLATION_FENCE_SECONDS, LEASE_DEADLINE_FILE, PATHS, POSTGRES_PORT, ROLE_LABEL, S3_CA_FILE, SUPERUSER } from './private/names';
import { conflictingSettingsReason, invalidSettingValueReason, needsRestart, unknownSettingReason } from './private/postgres-settings';
import { renderConf, renderHba, Setting } from './private/postgresql-conf';
import { AGENT_FILES, readAgentBundle, readScript, SCRIPT_FILES, scriptsDigest } from './private/scripts';
import {
  MAX_INT32, shown, validateClusterName, validateCronSchedule, validateInteger, validatePostgresDuration, validatePostgresSize,
  validatePostgresVersion, validateObjectName, validateSettingName, validateSettingValue, validateStorageSize, validateStringMap, validateTypes,
} from './private/validation';

/**
 * A cert-manager issuer (`issuerRef` of a `Certificate`).
 */
export interface CertManagerIssuer {
  /** The Issuer's or ClusterIssuer's name. */
  readonly name: string;
  /**
   * "Issuer" (in the cluster's namespace) or "ClusterIssuer".
   * @default "Issuer"
   */
  readonly kind?: string;
}

/** Automatic failover's timers and limits ({@link PostgresConfigProps.automaticFailover}). */
export interface AutomaticFailoverOptions {
  /**
   * How long after the primary's last renewal a replica may take over (the Lease's `leaseDurationSeconds`): a failover
   * takes about this long after the primary dies. At least `renewDeadlineSeconds` + 2.
   * @default 10
   */
  readonly leaseDurationSeconds?: number;
  /**
   * How often the primary renews the lease. Shorter than `renewDeadlineSeconds`.
   * @default 2
   */
  readonly renewIntervalSeconds?: number;
  /**
   * A primary whose last successful renewal began this long ago fences itself (stops taking writes). At least two
   * seconds less than `leaseDurationSeconds`, for the fence to finish before a replica may take over.
   * @default 6
   */
  readonly renewDeadlineSeconds?: number;
  /**
   * How long a primary whose PostgreSQL stopped (crashed) keeps its lease, to restart in place, before a replica takes over.
   * @default 30
   */
  readonly primaryRestartGraceSeconds?: number;
  /**
   * No automatic failover within this many seconds of the last change of primary that the agent saw (no flapping). 0
   * for none.
   * @default 60
   */
  readonly minimumFailoverIntervalSeconds?: number;
  /**
   * A replica further behind than this many bytes of WAL (behind the primary's position at its last renewal) never
   * takes over automatically.
   * @default 1048576 (1 MiB, as Patroni's maximum_lag_on_failover)
   */
  readonly maximumLagOnFailover?: number;
}

/**
 * How pgBackRest addresses an S3 bucket (`repo1-s3-uri-style`).
 */
export enum S3UriStyle {
  /** `https://<bucket>.<endpoint>/...`: AWS S3's own (virtual-hosted style). */
  HOST = 'host',
  /** `https://<endpoint>/<bucket>/...`: for an endpoint given as an IP address, and for MinIO or Ceph without wildcard DNS. */
  PATH = 'path',
}

/**
 * The credentials pgBackRest signs its S3 requests with.
 */
export class S3Credentials {
  /**
   * An access key from a Secret you manage, passed to the postgres container as environment variables (never
   * written into a ConfigMap).
   * @param secretName the Secret in the cluster's namespace
   * @param accessKeyIdKey the Secret's key that holds the access key id
   * @param secretAccessKeyKey the Secret's key that holds the secret access key
   */
  public static fromSecret(secretName: string, accessKeyIdKey = 'access-key-id', secretAccessKeyKey = 'secret-access-key'): S3Credentials {
    return new S3Credentials(secretName, accessKeyIdKey, secretAccessKeyKey);
  }

  /**
   * No key in the YAML: pgBackRest asks AWS STS for temporary credentials with the pod's web identity token (IAM roles
   * for service accounts, EKS Pod Identity's web-identity mode): `repo1-s3-key-type=web-id`, reading
   * `AWS_ROLE_ARN` and `AWS_WEB_IDENTITY_TOKEN_FILE`, which EKS's webhook sets when the pods' ServiceAccount is annotated
   * with `eks.amazonaws.com/role-arn`.
   */
  public static webIdentity(): S3Credentials {
    return new S3Credentials(undefined, undefined, undefined);
  }

  private constructor(
    /** The Secret with the access key, if any. */
    public readonly secretName: string | undefined,
    /** Its key that holds the access key id. */
    public readonly accessKeyIdKey: string | undefined,
    /** Its key that holds the secret access key. */
    public readonly secretAccessKeyKey: string | undefined,
  ) {}
}

/**
 * A CA certificate (PEM) that signs the S3 endpoint's certificate, from a key of a Secret or a ConfigMap, mounted into
 * the postgres container.
 */
export class RepositoryCaCertificate {
  /**
   * A key of a Secret you manage.
   * @param secretName the Secret in the cluster's namespace
   * @param key its key that holds the PEM certificate(s)
   */
  public static fromSecret(secretName: string, key = 'ca.crt'): RepositoryCaCertificate {
    return new RepositoryCaCertificate(secretName, undefined, key);
  }

  /**
   * A key of a ConfigMap you manage.
   * @param configMapName the ConfigMap in the cluster's namespace
   * @param key its key that holds the PEM certificate(s)
   */
  public static fromConfigMap(configMapName: string, key = 'ca.crt'): RepositoryCaCertificate {
    return new RepositoryCaCertificate(undefined, configMapName, key);
  }

  private constructor(
    /** The Secret that holds it, if it is in a Secret. */
    public readonly secretName: string | undefined,
    /** The ConfigMap that holds it, if it is in a ConfigMap. */
    public readonly configMapName: string | undefined,
    /** The key that holds it. */
    public readonly key: string,
  ) {}
}

/**
 * A pgBackRest repository in an S3 bucket, on AWS or an S3-compatible server (MinIO, Ceph RGW). pgBackRest speaks
 * HTTPS only.
 */
export interface S3RepositoryOptions {
  /**
   * The bucket (it must exist: pgBackRest does not create it).
   */
  readonly bucket: string;

  /**
   * The repository's directory in the bucket: each stanza (cluster) has its own directories under it.
   * @default - "/<clusterName>"
   */
  readonly path?: string;

  /**
   * The bucket's region (S3-compatible servers mostly accept any, and sign with "us-east-1").
   * @default "us-east-1"
   */
  readonly region?: string;

  /**
   * The S3 endpoint, a host name or IP address, with a port when it is not 443 ("minio.storage.svc:9000"); no scheme
   * (always HTTPS) and no path.
   * @default - "s3.<region>.amazonaws.com"
   */
  readonly endpoint?: string;

  /**
   * How the bucket is addressed: in the host name (AWS) or in the path (an IP endpoint, most MinIO and Ceph set-ups).
   * @default S3UriStyle.HOST
   */
  readonly uriStyle?: S3UriStyle;

  /**
   * Whether pgBackRest verifies the endpoint's TLS certificate. Turn it off only for a test server: anyone on the path
   * could then read and change the backups.
   * @default true
   */
  readonly verifyTls?: boolean;

  /**
   * The CA that signs the endpoint's certificate, when the image's system CAs do not (a private MinIO or Ceph).
   * @default - the image's system CAs
   */
  readonly caCertificate?: RepositoryCaCertificate;

  /**
   * How pgBackRest authenticates: an access key from a Secret (`S3Credentials.fromSecret`) or the pod's web identity
   * (`S3Credentials.webIdentity()`, IAM roles for service accounts).
   */
  readonly credentials: S3Credentials;
}

/**
 * How pgBackRest addresses an Azure storage account (`repo1-azure-uri-style`).
 */
export enum AzureUriStyle {
  /** `https://<account>.<endpoint>/<container>/...`: Azure's own. */
  HOST = 'host',
  /** `https://<endpoint>/<account>/<container>/...`: for an endpoint given as an IP address, and for the Azurite emulator. */
  PATH = 'path',
}

/**
 * The credentials pgBackRest signs its Azure Blob requests with: a key or token from a Secret you manage, passed to
 * the postgres container as the environment variable `PGBACKREST_REPO1_AZURE_KEY` (never written into a ConfigMap).
 * pgBackRest 2.45 has no managed identity (Microsoft Entra ID) authentication: a shared key or a shared access
 * signature only.
 */
export class AzureCredentials {
  /**
   * The storage account's shared key (`repo1-azure-key-type=shared`), which grants everything on the account.
   * @param secretName the Secret in the cluster's namespace
   * @param key the Secret's key that holds the account key (base64, as the Azure portal shows it)
   */
  public static fromSecret(secretName: string, key = 'storage-key'): AzureCredentials {
    return new AzureCredentials(secretName, key, 'shared');
  }

  /**
   * A shared access signature (`repo1-azure-key-type=sas`): a token limited to what it grants (read, add, create,
   * write, delete and list on the container) and until it expires. Renew it in the Secret before then, and restart
   * the pods (the variable is read when a container starts).
   * @param secretName the Secret in the cluster's namespace
   * @param key the Secret's key that holds the token (the query string "sv=...&sig=...", without a leading "?")
   */
  public static sharedAccessSignature(secretName: string, key = 'sas-token'): AzureCredentials {
    return new AzureCredentials(secretName, key, 'sas');
  }

  private constructor(
    /** The Secret with the key or token. */
    public readonly secretName: string,
    /** Its key that holds it. */
    public readonly key: string,
    /** pgBackRest's `repo1-azure-key-type`: "shared" or "sas". */
    public readonly keyType: string,
  ) {}
}

/**
 * A pgBackRest repository in an Azure Blob Storage container (or one the Azurite emulator serves). pgBackRest speaks
 * HTTPS only.
 */
export interface AzureRepositoryOptions {
  /**
   * The container (it must exist: pgBackRest does not create it).
   */
  readonly container: string;

  /**
   * The storage account that holds the container.
   */
  readonly account: string;

  /**
   * The repository's directory in the container: each stanza (cluster) has its own directories under it.
   * @default - "/<clusterName>"
   */
  readonly path?: string;

  /**
   * The blob service's endpoint, a host name or IP address, with a port when it is not 443 ("198.18.1.1:10000"); no
   * scheme (always HTTPS) and no path. With `AzureUriStyle.HOST` pgBackRest puts the account before it
   * ("<account>.blob.core.windows.net").
   * @default "blob.core.windows.net"
   */
  readonly endpoint?: string;

  /**
   * How the account is addressed: in the host name (Azure) or in the path (an IP endpoint, Azurite).
   * @default AzureUriStyle.HOST
   */
  readonly uriStyle?: AzureUriStyle;

  /**
   * Whether pgBackRest verifies the endpoint's TLS certificate. Turn it off only for a test server: anyone on the path
   * could then read and change the backups.
   * @default true
   */
  readonly verifyTls?: boolean;

  /**
   * The CA that signs the endpoint's certificate, when the image's system CAs do not (an emulator, an endpoint behind
   * a proxy with your own CA).
   * @default - the image's system CAs
   */
  readonly caCertificate?: RepositoryCaCertificate;

  /**
   * How pgBackRest authenticates: the account's shared key (`AzureCredentials.fromSecret`) or a shared access signature
   * (`AzureCredentials.sharedAccessSignature`), from a Secret.
   */
  readonly credentials: AzureCredentials;
}

/**
 * How pgBackRest authenticates to Google Cloud Storage (`repo1-gcs-key-type`).
 */
export class GcsCredentials {
  /**
   * A service account's JSON key from a Secret you manage (`repo1-gcs-key-type=service`): the Secret's key is mounted
   * read-only as a file into the postgres container (never written into a ConfigMap), and pgBackRest signs a token
   * request with it, to the key's `token_uri` (Google's: https://oauth2.googleapis.com/token, port 443).
   * @param secretName the Secret in the cluster's namespace
   * @param key the Secret's key that holds the JSON key file
   */
  public static fromServiceAccountKey(secretName: string, key = 'key.json'): GcsCredentials {
    return new GcsCredentials('service', secretName, key);
  }

  /**
   * No key in the YAML: pgBackRest asks the metadata server for the token of the pod's Google service account
   * (`repo1-gcs-key-type=auto`): on GKE with Workload Identity, the pods' Kubernetes ServiceAccount bound to a Google
   * service account (or granted the bucket's roles directly). The metadata server is reached over plain HTTP at
   * metadata.google.internal (port 80; GKE Dataplane V2 also uses port 988).
   */
  public static workloadIdentity(): GcsCredentials {
    return new GcsCredentials('auto', undefined, undefined);
  }

  /**
   * An OAuth2 access token from a Secret you manage (`repo1-gcs-key-type=token`), passed to the postgres container as
   * the environment variable PGBACKREST_REPO1_GCS_KEY. pgBackRest 2.45 sends the value as the whole `Authorization`
   * header: store "Bearer <token>", not the token alone. Google's access tokens expire (after an hour by default) and
   * pgBackRest does not renew them: for tests against an emulator and short jobs only, not for continuous archiving.
   * @param secretName the Secret in the cluster's namespace
   * @param key the Secret's key that holds "Bearer <token>"
   */
  public static fromAccessToken(secretName: string, key = 'token'): GcsCredentials {
    return new GcsCredentials('token', secretName, key);
  }

  private constructor(
    /** pgBackRest's `repo1-gcs-key-type`: "service", "auto" or "token". */
    public readonly keyType: string,
    /** The Secret with the key file or the token, if any. */
    public readonly secretName: string | undefined,
    /** Its key that holds the key file or the token. */
    public readonly key: string | undefined,
  ) {}
}

/**
 * A pgBackRest repository in a Google Cloud Storage bucket (or a server that speaks GCS's JSON API). pgBackRest
 * speaks HTTPS only.
 */
export interface GcsRepositoryOptions {
  /**
   * The bucket (it must exist: pgBackRest does not create it).
   */
  readonly bucket: string;

  /**
   * The repository's directory in the bucket: each stanza (cluster) has its own directories under it.
   * @default - "/<clusterName>"
   */
  readonly path?: string;

  /**
   * The GCS endpoint, a host name or IP address, with a port when it is not 443 ("gcs.storage.svc:4443"); no scheme
   * (always HTTPS) and no path.
   * @default "storage.googleapis.com"
   */
  readonly endpoint?: string;

  /**
   * Whether pgBackRest verifies the endpoint's TLS certificate (and the token endpoint's). Turn it off only for a
   * test server: anyone on the path could then read and change the backups.
   * @default true
   */
  readonly verifyTls?: boolean;

  /**
   * The CA that signs the endpoint's certificate (and the token endpoint's), when the image's system CAs do not.
   * @default - the image's system CAs
   */
  readonly caCertificate?: RepositoryCaCertificate;

  /**
   * How pgBackRest authenticates: a service account's JSON key from a Secret (`GcsCredentials.fromServiceAccountKey`),
   * the pod's Workload Identity (`GcsCredentials.workloadIdentity()`), or an access token (`GcsCredentials.fromAccessToken`,
   * for tests: tokens expire).
   */
  readonly credentials: GcsCredentials;
}

/**
 * Continuous WAL archiving and backups with pgBackRest, into a repository on a volume that every pod mounts (whichever
 * pod is primary archives), in an S3 bucket (`s3`), an Azure Blob container (`azure`) or a Google Cloud Storage bucket
 * (`gcs`). The postgres image must contain pgBackRest: the official one does not (see `image`).
 */
export interface WalArchiveOptions {
  /**
   * Keep the repository in an S3 (or S3-compatible) bucket instead of a volume: no archive volume is then created or
   * mounted, and `storage`, `storageClassName` and `existingClaimName` do not apply.
   * @default - the repository is on a `ReadWriteMany` volume
   */
  readonly s3?: S3RepositoryOptions;

  /**
   * Keep the repository in an Azure Blob Storage container instead of a volume: no archive volume is then created or
   * mounted, and `storage`, `storageClassName` and `existingClaimName` do not apply. Not with `s3` nor `gcs`.
   * @default - the repository is on a `ReadWriteMany` volume
   */
  readonly azure?: AzureRepositoryOptions;

  /**
   * Keep the repository in a Google Cloud Storage bucket instead of a volume: no archive volume is then created or
   * mounted, and `storage`, `storageClassName` and `existingClaimName` do not apply. Not with `s3` nor `azure`.
   * @default - the repository is on a `ReadWriteMany` volume
   */
  readonly gcs?: GcsRepositoryOptions;

  /**
   * Encrypt the repository at rest (`repo1-cipher-type=aes-256-cbc`): the Secret whose key holds the passphrase. Keep
   * the passphrase elsewhere too: without it no backup can be restored. A `restoreFrom` of this cluster reads its
   * source with the same cipher and passphrase.
   * @default - not encrypted by pgBackRest (a bucket's own server-side encryption may still apply)
   */
  readonly encryptionPassphraseSecretName?: string;

  /**
   * The key of `encryptionPassphraseSecretName` that holds the passphrase.
   * @default "passphrase"
   */
  readonly encryptionPassphraseSecretKey?: string;

  /**
   * Size of the repository's volume `<clusterName>-archive`: its full and differential backups, and the WAL since
   * the oldest one kept.
   * @default "50Gi"
   */
  readonly storage?: string;

  /**
   * StorageClass of the repository's volume. It must offer `ReadWriteMany` (NFS, CephFS, Amazon EFS, Azure Files,
   * ...): every pod mounts it, since any of them may become the primary.
   * @default - the cluster's default StorageClass
   */
  readonly storageClassName?: string;

  /**
   * A `ReadWriteMany` PersistentVolumeClaim you manage, instead of `<clusterName>-archive` (for example one repository
   * for several clusters: each is a pgBackRest stanza named after its cluster).
   * @default - the claim `<clusterName>-archive`, in the YAML
   */
  readonly existingClaimName?: string;

  /**
   * When a full backup runs (cron).
   * @default "0 1 * * 0" (Sundays at 01:00)
   */
  readonly fullBackupSchedule?: string;

  /**
   * When a differential backup runs (cron): what changed since the last full one. Without a full backup yet,
   * pgBackRest makes a full one.
   * @default "0 1 * * 1-6" (Monday to Saturday at 01:00)
   */
  readonly diffBackupSchedule?: string;

  /**
   * Full backups kept: an older one expires after a new full backup, with the differential backups and the WAL
   * that only it needs. The oldest backup kept bounds how far back point-in-time recovery reaches.
   * @default 2
   */
  readonly retentionFull?: number;

  /**
   * `archive_timeout`: a quiet primary still archives its last commits after at most this long (each time a WAL
   * segment is archived, with what little it holds).
   * @default "5min"
   */
  readonly archiveTimeout?: string;

  /**
   * pgBackRest's asynchronous archiving (`archive-async`): archive-push hands the segment to a background process that
   * pushes the segments waiting in `pg_wal` ahead, two at a time; PostgreSQL still hears "archived" only once the
   * segment is in the repository (so nothing is acknowledged early). It pays where each request has latency: an object
   * store (bench/README.md, "Archive throughput": 1.6x against a local S3 server). Its queue's state lives on the pod's
   * run volume, not in the repository.
   * @default false
   */
  readonly asyncArchive?: boolean;
}

/**
 * Where a new cluster's first primary comes from instead of initdb: a pgBackRest repository (another cluster's
 * {@link WalArchiveOptions}, or this cluster's own after a disaster).
 */
export interface RestoreFromOptions {
  /**
   * The cluster whose backups and WAL are restored (its pgBackRest stanza: its `clusterName`).
   */
  readonly clusterName: string;

  /**
   * The PersistentVolumeClaim that holds the repository, mounted read-only.
   * @default - this cluster's own repository (`walArchive` must then be on), unless `s3`, `azure` or `gcs` is given
   */
  readonly claimName?: string;

  /**
   * Another cluster's repository in an S3 bucket (the disaster-recovery case: a new cluster, in another namespace or
   * Kubernetes cluster, from the bucket alone). Only read: the restore never writes to it. Its `path` defaults to
   * "/<clusterName>" of the restored cluster, where that cluster's `walArchive.s3` keeps it by default.
   * @default - the volume of `claimName`, or this cluster's own repository
   */
  readonly s3?: S3RepositoryOptions;

  /**
   * Another cluster's repository in an Azure Blob container (the disaster-recovery case, as `s3`). Only read: a SAS
   * token with read and list permissions only is enough. Its `path` defaults to "/<clusterName>" of the restored
   * cluster, where that cluster's `walArchive.azure` keeps it by default.
   * @default - the volume of `claimName`, or this cluster's own repository
   */
  readonly azure?: AzureRepositoryOptions;

  /**
   * Another cluster's repository in a Google Cloud Storage bucket, as `s3` is in an S3 bucket: only read, its `path`
   * defaulting to "/<clusterName>" of the restored cluster, where that cluster's `walArchive.gcs` keeps it by default.
   * @default - the volume of `claimName`, or this cluster's own repository
   */
  readonly gcs?: GcsRepositoryOptions;

  /**
   * The Secret whose key holds the passphrase of an encrypted repository given by `claimName`, `s3`, `azure` or `gcs` (its
   * `walArchive.encryptionPassphraseSecretName`). This cluster's own repository is read with its own passphrase.
   * @default - the repository is not encrypted
   */
  readonly encryptionPassphraseSecretName?: string;

  /**
   * The key of `encryptionPassphraseSecretName` that holds the passphrase.
   * @default "passphrase"
   */
  readonly encryptionPassphraseSecretKey?: string;

  /**
   * Recover to this moment (`recovery_target_time`) and stop there: a time with its zone, such as
   * "2026-12-02 08:00:00+00" or "2026-12-02T08:00:00Z". The newest backup that ended before it is restored,
   * then the archived WAL up to it is replayed; commits after it are not in the new cluster.
   * @default - everything archived: the last archived commit
   */
  readonly targetTime?: string;
}

/**
 * The archiving settings of a cluster, as {@link PostgresConfig} resolved them.
 */
export interface WalArchiveSettings {
  /** The pgBackRest stanza: the cluster's name. */
  readonly stanza: string;
  /** The repository's PersistentVolumeClaim; none with an S3, Azure or GCS repository. */
  readonly claimName?: string;
  /** Whether the YAML holds the claim (false for `existingClaimName` and for an S3, Azure or GCS repository). */
  readonly createClaim: boolean;
  /** Size of the claim the YAML holds. */
  readonly storage: string;
  /** Its StorageClass. */
  readonly storageClassName?: string;
  /** Cron schedule of the full backups. */
  readonly fullBackupSchedule: string;
  /** Cron schedule of the differential backups. */
  readonly diffBackupSchedule: string;
  /** Full backups kept. */
  readonly retentionFull: number;
  /** Whether archive-push runs asynchronously (`archive-async`). */
  readonly asyncArchive: boolean;
  /** The S3 repository, if the repository is in a bucket. */
  readonly s3?: S3RepositorySettings;
  /** The Azure repository, if the repository is in an Azure Blob container. */
  readonly azure?: AzureRepositorySettings;
  /** The GCS repository, if the repository is in a Google Cloud Storage bucket. */
  readonly gcs?: GcsRepositorySettings;
  /** The Secret with the encryption passphrase, if the repository is encrypted. */
  readonly encryptionPassphraseSecretName?: string;
  /** Its key. */
  readonly encryptionPassphraseSecretKey?: string;
}

/**
 * An S3 repository, as {@link PostgresConfig} resolved it.
 */
export interface S3RepositorySettings {
  /** The bucket. */
  readonly bucket: string;
  /** The repository's directory in it. */
  readonly path: string;
  /** The region. */
  readonly region: string;
  /** The endpoint's host (name or IP address). */
  readonly endpoint: string;
  /** The endpoint's port. */
  readonly port: number;
  /** "host" or "path". */
  readonly uriStyle: string;
  /** Whether the endpoint's certificate is verified. */
  readonly verifyTls: boolean;
  /** The CA that signs it, if not the system's. */
  readonly caCertificate?: RepositoryCaCertificate;
  /** The Secret with the access key; none with a web identity. */
  readonly credentialsSecretName?: string;
  /** Its key with the access key id. */
  readonly accessKeyIdKey?: string;
  /** Its key with the secret access key. */
  readonly secretAccessKeyKey?: string;
}

/**
 * An Azure Blob repository, as {@link PostgresConfig} resolved it.
 */
export interface AzureRepositorySettings {
  /** The container. */
  readonly container: string;
  /** The storage account. */
  readonly account: string;
  /** The repository's directory in the container. */
  readonly path: string;
  /** The endpoint's host (name or IP address), without the account. */
  readonly endpoint: string;
  /** The endpoint's port. */
  readonly port: number;
  /** "host" or "path". */
  readonly uriStyle: string;
  /** Whether the endpoint's certificate is verified. */
  readonly verifyTls: boolean;
  /** The CA that signs it, if not the system's. */
  readonly caCertificate?: RepositoryCaCertificate;
  /** The Secret with the shared key or shared access signature. */
  readonly credentialsSecretName: string;
  /** Its key that holds it. */
  readonly credentialsKey: string;
  /** "shared" or "sas" (`repo1-azure-key-type`). */
  readonly keyType: string;
}

/**
 * A GCS repository, as {@link PostgresConfig} resolved it.
 */
export interface GcsRepositorySettings {
  /** The bucket. */
  readonly bucket: string;
  /** The repository's directory in it. */
  readonly path: string;
  /** The endpoint's host (name or IP address). */
  readonly endpoint: string;
  /** The endpoint's port. */
  readonly port: number;
  /** Whether the endpoint's certificate is verified. */
  readonly verifyTls: boolean;
  /** The CA that signs it, if not the system's. */
  readonly caCertificate?: RepositoryCaCertificate;
  /** pgBackRest's `repo1-gcs-key-type`: "service", "auto" or "token". */
  readonly keyType: string;
  /** The Secret with the service account's key file or the token; none with Workload Identity. */
  readonly credentialsSecretName?: string;
  /** Its key that holds the key file or the token. */
  readonly credentialsKey?: string;
}

/**
 * The restore a new cluster starts from, as {@link PostgresConfig} resolved it.
 */
export interface RestoreSettings {
  /** The stanza (source cluster's name) restored. */
  readonly stanza: string;
  /** The claim with another cluster's repository (mounted read-only for the restore), if it is on a volume. */
  readonly claimName?: string;
  /** Another cluster's S3 repository, if it is in a bucket. */
  readonly s3?: S3RepositorySettings;
  /** Another cluster's Azure repository, if it is in an Azure Blob container. */
  readonly azure?: AzureRepositorySettings;
  /** Another cluster's GCS repository, if it is in a Google Cloud Storage bucket. */
  readonly gcs?: GcsRepositorySettings;
  /** Whether the repository is the cluster's own (`walArchive`), read with its own configuration. */
  readonly ownArchive: boolean;
  /** The recovery target time, if any. */
  readonly targetTime?: string;
  /** The Secret with the passphrase of another cluster's encrypted repository. */
  readonly encryptionPassphraseSecretName?: string;
  /** Its key. */
  readonly encryptionPassphraseSecretKey?: string;
}

/**
 * Properties of {@link PostgresConfig}.
 */
export interface PostgresConfigProps {
  /**
   * The cluster's name; every object name and label derives from it.
   * @default "postgres"
   */
  readonly clusterName?: string;

  /**
   * PostgreSQL major version the configuration is written for (13 to 17).
   * @default 15
   */
  readonly postgresVersion?: number;

  /**
   * The most pods you plan to run (with `kubectl scale`); sizes max_wal_senders.
   * @default 10
   */
  readonly maxReplicas?: number;

  /**
   * `max_wal_senders`: one per replica plus two per base backup in progress.
   * @default - maxReplicas + 3
   */
  readonly maxWalSenders?: number;

  /**
   * `wal_keep_size`: WAL the primary keeps for replicas that fall behind.
   * @default "1GB"
   */
  readonly walKeepSize?: string;

  /**
   * `max_slot_wal_keep_size`: the most WAL the primary keeps for a replica that is down or behind
   * (each replica has a replication slot). A replica that falls further behind loses its slot and
   * clones itself afresh; keep it well below the volume size.
   * @default "2GB"
   */
  readonly maxSlotWalKeepSize?: string;

  /**
   * `max_connections`: from 10 to 262143 - maxWalSenders - 12 (PostgreSQL counts at most 262143 backends, its own
   * workers included).
   * @default 100 (PostgreSQL's default; not written)
   */
  readonly maxConnections?: number;

  /**
   * Replicas that must confirm every commit (`synchronous_standby_names = 'ANY n (*)'`);
   * 0 replicates asynchronously. With 1 or more, a failover loses no committed row. Equal to the
   * number of replicas, one replica down stops every write: synth warns.
   * @default 0
   */
  readonly synchronousReplicas?: number;

  /**
   * Further postgresql.conf settings, by name. Names the chosen version does not know
   * (such as `wal_keep_segments` on 13+), and values it would refuse (`shared_buffers: 'lots'`,
   * a unit it does not take, a number out of its range), are rejected at synth.
   * @default {}
   */
  readonly extraSettings?: { [name: string]: string };

  /**
   * Database created when the cluster is initialized.
   * @default "myapp"
   */
  readonly database?: string;

  /**
   * Role that replicas stream with.
   * @default "replicator"
   */
  readonly replicationUser?: string;

  /**
   * Password of the `postgres` superuser. Given (with or without `replicationPassword`), the Secret
   * `<clusterName>-secret` is synthesized with it, so the password is in the YAML (and in git): prefer the
   * generated Secret, or `existingSecretName`.
   * @default - generated in the cluster on first deploy (see `existingSecretName`)
   */
  readonly superuserPassword?: string;

  /**
   * Password of the replication role. Given, the Secret is synthesized with it, as for `superuserPassword`.
   * @default - generated in the cluster on first deploy
   */
  readonly replicationPassword?: string;

  /**
   * Name of a Secret you manage, with keys `password` (the superuser's) and `replication-password`; nothing
   * creates or changes it. Without it and without passwords in the props, no Secret is in the YAML: each pod's
   * `secrets` init container creates `<clusterName>-secret` with random passwords if it does not exist, and never
   * changes one that does (a re-apply or an Argo CD sync keeps the passwords). Whichever Secret it is, a password
   * changed in it is applied to the running cluster by the primary's sidecar.
   * @default - "<clusterName>-secret", generated in the cluster
   */
  readonly existingSecretName?: string;

  /**
   * The application's role: it owns `database` and logs in with a password over the network, where the
   * superuser may not (PostgreSQL 15+). Its Secret holds `username`, `password`, `dbname`, `host` (the write
   * Service), `port` and `uri`.
   * @default "app"
   */
  readonly appUser?: string;

  /**
   * Password of the application role. Given, the Secret `<clusterName>-app` is synthesized with it (the
   * password is then in the YAML).
   * @default - generated in the cluster on first deploy, like the cluster's Secret
   */
  readonly appPassword?: string;

  /**
   * Name of a Secret you manage for the application role, with at least the key `password`.
   * @default - "<clusterName>-app", generated in the cluster
   */
  readonly existingAppSecretName?: string;

  /**
   * TLS for every network connection that asks for it (`ssl = on`): clients, replication, pg_rewind. Without
   * `tlsSecretName`, each pod makes itself a self-signed certificate (openssl, from the postgres image) on its first
   * start and keeps it on its volume: connections are encrypted, but clients cannot verify whom they talk to
   * (`sslmode=require`, not `verify-full`).
   * @default true
   */
  readonly tls?: boolean;

  /**
   * A `kubernetes.io/tls` Secret (keys `tls.crt`, `tls.key`) with the server certificate of every pod, for example
   * one that cert-manager keeps (a `Certificate` with the write and read Services' names and
   * `*.<clusterName>-headless`). It must exist before the pods start; the kubelet updates it in the pods when it is
   * renewed, and PostgreSQL reads it again at its next reload or restart.
   * @default - each pod makes its own self-signed certificate
   */
  readonly tlsSecretName?: string;

  /**
   * A cert-manager issuer for the pods' certificate: the YAML then holds a cert-manager `Certificate`
   * `<clusterName>-tls` (ECDSA P-256) for the write, read and any Services and every pod
   * (`*.<clusterName>-headless`), and the pods use the Secret it keeps (`tlsSecretName`, by default
   * `<clusterName>-tls`). cert-manager must be installed, or applying the YAML fails; the pods wait until the
   * Secret exists, and their sidecars reload PostgreSQL when cert-manager renews it.
   * @default - no Certificate
   */
  readonly certManagerIssuer?: CertManagerIssuer;

  /**
   * Refuse network connections without TLS (`hostssl` rules only): clients must connect with `sslmode=require` or
   * stronger (libpq's default, `prefer`, also uses TLS when offered).
   * @default false
   */
  readonly requireTls?: boolean;

  /**
   * Continuous WAL archiving and scheduled full and differential backups with pgBackRest, for point-in-time
   * recovery (`restoreFrom`). Needs an image with pgBackRest (`image`), and a `ReadWriteMany` volume, an S3 bucket,
   * an Azure Blob container or a Google Cloud Storage bucket.
   * @default - no archiving (the logical backup, `backup`, still runs)
   */
  readonly walArchive?: WalArchiveOptions;

  /**
   * Automatic failover: the primary's agent renews the leader record's lease and fences itself when it cannot. When the
   * lease lapses, the most advanced healthy replica takes over (in synchronous mode, a synchronous standby, with no
   * acknowledged commit lost). Pause it with the annotation `failover.postgres.cdk8s.io/paused=true` on the leader
   * record. The failover and switchover job, and requests on the record, keep working either way.
   * @default - none: a failover is started by the failover job (or a request on the record)
   */
  readonly automaticFailover?: AutomaticFailoverOptions;

  /**
   * Bootstrap the cluster from a pgBackRest repository instead of initdb: pod 0, finding no leader record and an
   * empty volume, restores the newest backup (before `targetTime`), replays the archived WAL, and starts as the
   * primary; the replicas then clone from it as usual. Like initdb, it happens only once, for a new cluster: with
   * data or a leader record, it never runs again (leaving it in the YAML is safe). The roles get the passwords of
   * this cluster's Secrets. Needs an image with pgBackRest (`image`).
   * @default - a new, empty cluster (initdb)
   */
  readonly restoreFrom?: RestoreFromOptions;

  /**
   * Extra files for /docker-entrypoint-initdb.d (`*.sql` run by psql, `*.sh` by bash), run once when the
   * first primary is initialized, after the replication role exists.
   * @default {}
   */
  readonly initScripts?: { [fileName: string]: string };

  /**
   * Arguments for initdb.
   * @default "--encoding=UTF8 --locale=C"
   */
  readonly initdbArgs?: string;
}

/**
 * The configuration of a PostgreSQL cluster: postgresql.conf and pg_hba.conf
 * (`<name>-config`), the init scripts (`<name>-init`), the scripts its pods and
 * failover job run (`<name>-cluster-init`) and the Secret with its passwords.
 */
export class PostgresConfig extends Construct {
  /** The cluster's name. */
  public readonly clusterName: string;
  /** PostgreSQL major version. */
  public readonly postgresVersion: number;
  /** The most pods the configuration is sized for. */
  public readonly maxReplicas: number;
  /** Replicas that confirm each commit; 0 when asynchronous. */
  public readonly synchronousReplicas: number;
  /** @internal The scripts ConfigMap's digest (scriptsDigest), which the pod template carries. */
  public readonly _scriptsDigest: string;

  /**
   * @internal The digest of the postgresql.conf settings that take effect only at a restart (their names and values),
   * which the pod template carries; the others take effect at a reload, which the agent makes when the file changes.
   */
  public readonly _restartSettingsDigest: string;
  /** @internal The agents' automatic failover settings (AutomaticFailoverOptions, resolved once). */
  public readonly _automaticFailover: AutomaticFailoverConfig;
  /** Database created at initialization. */
  public readonly database: string;
  /** Role that replicas stream with. */
  public readonly replicationUser: string;
  /** initdb arguments. */
  public readonly initdbArgs: string;
  /** Name of the ConfigMap with postgresql.conf and pg_hba.conf. */
  public readonly configMapName: string;
  /** Name of the ConfigMap mounted at /docker-entrypoint-initdb.d. */
  public readonly initConfigMapName: string;
  /** Name of the ConfigMap with the entrypoint, sidecar and failover scripts. */
  public readonly scriptsConfigMapName: string;
  /** Name of the Secret with keys `password` and `replication-password`. */
  public readonly secretName: string;
  /** The application's role. */
  public readonly appUser: string;
  /** Name of the application role's Secret (key `password`, and the connection's details when generated or synthesized). */
  public readonly appSecretName: string;
  /**
   * The Secrets that the pods' `secrets` init container creates when they do not exist (random passwords);
   * empty when every Secret is yours or in the YAML.
   */
  public readonly generatedSecretNames: string[];
  /**
   * Whether the superuser may log in over the network: only before PostgreSQL 15, whose pg_rewind needs it (15 has
   * pg_checkpoint, and pg_rewind runs as the replication role).
   */
  public readonly superuserOverNetwork: boolean;
  /** How the pods get their server certificate: "generate" (self-signed, per pod), "secret" (`tlsSecretName`) or "off". */
  public readonly tlsMode: string;
  /** The Secret with the server certificate, if one is given. */
  public readonly tlsSecretName?: string;
  /** The archiving settings, if `walArchive` is on. */
  public readonly walArchive?: WalArchiveSettings;
  /** The restore a new cluster starts from, if `restoreFrom` is given. */
  public readonly restore?: RestoreSettings;
  /** The rendered pgBackRest configuration (walArchive or restoreFrom), else undefined. */
  public readonly pgbackrestConf?: string;
  /** The pgBackRest configuration of a restore from another cluster's repository (restoreFrom), else undefined. */
  public readonly pgbackrestRestoreConf?: string;
  /** The rendered postgresql.conf. */
  public readonly postgresqlConf: string;
  /** The rendered pg_hba.conf. */
  public readonly pgHbaConf: string;

  constructor(scope: Construct, id: string, props: PostgresConfigProps = {}) {
    super(scope, id);
    const owner = `PostgresConfig ${this.node.path}`;
    validateTypes(owner, props, {
      clusterName: 'string',
      walKeepSize: 'string',
      maxSlotWalKeepSize: 'string',
      database: 'string',
      replicationUser: 'string',
      superuserPassword: 'string',
      replicationPassword: 'string',
      existingSecretName: 'string',
      appUser: 'string',
      appPassword: 'string',
      existingAppSecretName: 'string',
      initdbArgs: 'string',
      tls: 'boolean',
      tlsSecretName: 'string',
      requireTls: 'boolean',
    });
    validateObjectName(owner, 'tlsSecretName', props.tlsSecretName);
    const tls = props.tls ?? true;
    if (!tls && props.tlsSecretName !== undefined) {
      throw new Error(`${owner}: tlsSecretName "${props.tlsSecretName}" is given but tls is false: the certificate would not be used. Drop one of them.`);
    }
    if (!tls && props.requireTls) {
      throw new Error(`${owner}: requireTls is true but tls is false: no client could connect. Turn tls on, or drop requireTls.`);
    }
    const issuer = props.certManagerIssuer;
    if (issuer !== undefined) {
      if (typeof issuer !== 'object' || issuer === null || Array.isArray(issuer)) {
        throw new Error(`${owner}: certManagerIssuer ${JSON.stringify(issuer)} is not an issuer: give { name: "my-issuer", kind: "Issuer" | "ClusterIssuer" }.`);
      }
      if (!tls) throw new Error(`${owner}: certManagerIssuer is given but tls is false: the certificate would not be used. Drop one of them.`);
      if (typeof issuer.name !== 'string') throw new Error(`${owner}: certManagerIssuer.name is missing: name the Issuer or ClusterIssuer.`);
      validateObjectName(owner, 'certManagerIssuer.name', issuer.name);
      if (issuer.kind !== undefined && !['Issuer', 'ClusterIssuer'].includes(issuer.kind)) {
        throw new Error(`${owner}: certManagerIssuer.kind ${JSON.stringify(issuer.kind)} is not "Issuer" or "ClusterIssuer".`);
      }
    }

    validateObjectName(owner, 'existingSecretName', props.existingSecretName);
    validateObjectName(owner, 'existingAppSecretName', props.existingAppSecretName);
    validateStringMap(owner, 'extraSettings', props.extraSettings);
    validateStringMap(owner, 'initScripts', props.initScripts);
    for (const prop of ['superuserPassword', 'replicationPassword'] as const) {
      if (props[prop] === '') throw new Error(`${owner}: ${prop} is empty: give a password, or leave it out (generated in the cluster), or use existingSecretName.`);
      if (props[prop] !== undefined && props.existingSecretName !== undefined) {
        throw new Error(`${owner}: ${prop} and existingSecretName are both given: the password would be ignored. Put it into your Secret "${props.existingSecretName}", or drop existingSecretName.`);
      }
    }
    if (props.appPassword === '') throw new Error(`${owner}: appPassword is empty: give a password, or leave it out (generated in the cluster), or use existingAppSecretName.`);
    if (props.appPassword !== undefined && props.existingAppSecretName !== undefined) {
      throw new Error(`${owner}: appPassword and existingAppSecretName are both given: the password would be ignored. Put it into your Secret "${props.existingAppSecretName}", or drop existingAppSecretName.`);
    }

    this.clusterName = props.clusterName ?? 'postgres';
    validateClusterName(owner, this.clusterName);
    // With a cert-manager issuer: the Certificate's issuer and Secret (tlsSecretName, by default named after the cluster).
    const certificate = issuer === undefined ? undefined : { issuer, secretName: props.tlsSecretName ?? `${this.clusterName}-tls` };
    this.tlsSecretName = certificate?.secretName ?? props.tlsSecretName;
    this.tlsMode = !tls ? 'off' : this.tlsSecretName !== undefined ? 'secret' : 'generate';
    this.postgresVersion = props.postgresVersion ?? 15;
    validatePostgresVersion(owner, this.postgresVersion);
    this.maxReplicas = props.maxReplicas ?? 10;
    validateInteger(owner, 'maxReplicas', this.maxReplicas, 1, 1000, 'the most pods you will scale to');
    const maxWalSenders = props.maxWalSenders ?? this.maxReplicas + 3;
    validateInteger(owner, 'maxWalSenders', maxWalSenders, this.maxReplicas - 1, 10_000,
      `at least one per replica: maxReplicas - 1 = ${this.maxReplicas - 1}`);
    const walKeepSize = props.walKeepSize ?? '1GB';
    validatePostgresSize(owner, 'walKeepSize', walKeepSize);
    const maxSlotWalKeepSize = props.maxSlotWalKeepSize ?? '2GB';
    validatePostgresSize(owner, 'maxSlotWalKeepSize', maxSlotWalKeepSize);
    const maxConnections = props.maxConnections ?? 100;
    // PostgreSQL counts at most 262143 backends: connections, WAL senders, autovacuum's 3 workers, 8 background workers
    // and 1 (their defaults; extraSettings that raise them are checked with the rest of postgresql.conf).
    validateInteger(owner, 'maxConnections', maxConnections, 10, 262_143 - maxWalSenders - 12,
      `PostgreSQL needs room for its own connections, and counts at most 262143 backends: max_connections + maxWalSenders (${maxWalSenders}) + 12`);
    this.synchronousReplicas = props.synchronousReplicas ?? 0;
    this._automaticFailover = resolveAutomaticFailover(owner, props.automaticFailover);
    validateInteger(owner, 'synchronousReplicas', this.synchronousReplicas, 0, this.maxReplicas - 1,
      'replicas that confirm each commit; 0 for asynchronous replication');
    this.database = props.database ?? 'myapp';
    validateIdentifier(owner, 'database', this.database);
    this.replicationUser = props.replicationUser ?? 'replicator';
    validateIdentifier(owner, 'replicationUser', this.replicationUser);
    this.appUser = props.appUser ?? 'app';
    validateIdentifier(owner, 'appUser', this.appUser);
    if (this.replicationUser === SUPERUSER || this.replicationUser === METRICS_USER) {
      throw new Error(`${owner}: replicationUser "${this.replicationUser}" is the ${this.replicationUser === SUPERUSER ? 'superuser' : 'metrics role'}'s name: choose another.`);
    }
    const takenBy = ({ [SUPERUSER]: 'the superuser', [METRICS_USER]: 'the metrics role', [this.replicationUser]: 'the replication role' } as { [role: string]: string })[this.appUser];
    if (takenBy) throw new Error(`${owner}: appUser "${this.appUser}" is ${takenBy}'s name: the application needs a role of its own. Choose another.`);
    this.initdbArgs = props.initdbArgs ?? '--encoding=UTF8 --locale=C';

    const names = clusterNames(this.clusterName);
    const archive = resolveWalArchive(owner, props.walArchive, names);
    this.walArchive = archive?.settings;
    this.restore = resolveRestore(owner, props.restoreFrom, this.walArchive);
    this.pgbackrestConf = this.walArchive || this.restore ? renderPgbackrestConf(this.clusterName, this.walArchive) : undefined;
    this.pgbackrestRestoreConf = this.restore && !this.restore.ownArchive ? renderRestoreConf(this.clusterName, this.restore) : undefined;
    this.configMapName = names.configMap;
    this.initConfigMapName = names.initConfigMap;
    this.scriptsConfigMapName = names.scriptsConfigMap;
    this.secretName = props.existingSecretName ?? names.secret;
    this.appSecretName = props.existingAppSecretName ?? names.appSecret;
    const passwordsGiven = props.superuserPassword !== undefined || props.replicationPassword !== undefined;
    const generateSecret = props.existingSecretName === undefined && !passwordsGiven;
    const generateAppSecret = props.existingAppSecretName === undefined && props.appPassword === undefined;
    this.generatedSecretNames = [...(generateSecret ? [this.secretName] : []), ...(generateAppSecret ? [this.appSecretName] : [])];

    const extra = validateExtraSettings(owner, props.extraSettings ?? {}, this.postgresVersion);
    const archiving = extra.find(e => ARCHIVE_SETTINGS.includes(e.name));
    if (archive && archiving) {
      throw new Error(`${owner}: extraSettings may not set "${archiving.name}" while walArchive is on: pgBackRest archives `
        + `(${archiving.name === 'archive_timeout' ? 'set walArchive.archiveTimeout instead' : 'drop it, or turn walArchive off to archive your own way'}).`);
    }
    const walLevel = extra.find(e => e.name === 'wal_level')?.value ?? 'replica';
    const managed: Setting[] = [
      { name: 'listen_addresses', value: '*' },
      { name: 'wal_level', value: walLevel },
      { name: 'max_wal_senders', value: String(maxWalSenders) },
      { name: 'wal_keep_size', value: walKeepSize },
      // Each replica streams through a slot of its own, which keeps its WAL up to this much.
      { name: 'max_slot_wal_keep_size', value: maxSlotWalKeepSize },
      { name: 'hot_standby', value: 'on' },
      // pg_rewind needs it to turn a former primary into a replica.
      { name: 'wal_log_hints', value: 'on' },
      { name: 'password_encryption', value: 'scram-sha-256' },
      ...(this.tlsMode === 'off' ? [] : [
        { name: 'ssl', value: 'on' },
        { name: 'ssl_cert_file', value: this.tlsMode === 'secret' ? `${PATHS.tlsSecretDir}/tls.crt` : `${PATHS.dataVolume}/tls/server.crt` },
        { name: 'ssl_key_file', value: this.tlsMode === 'secret' ? `${PATHS.tlsSecretDir}/tls.key` : `${PATHS.dataVolume}/tls/server.key` },
      ]),
      ...(this.synchronousReplicas > 0
        ? [{ name: 'synchronous_standby_names', value: `ANY ${this.synchronousReplicas} (*)` }]
        : []),
      ...(props.maxConnections !== undefined ? [{ name: 'max_connections', value: String(maxConnections) }] : []),
      ...(archive ? [
        // Whichever pod is primary archives each WAL segment into the repository (a replica's archiver waits until promoted).
        { name: 'archive_mode', value: 'on' },
        { name: 'archive_command', value: `pgbackrest --config=${PATHS.pgbackrestConf} --stanza=${this.clusterName} archive-push %p` },
        { name: 'archive_timeout', value: archive.archiveTimeout },
      ] : []),
    ];
    const defaults: Setting[] = [
      // Replicas retry the write Service every second, so they find a new primary quickly.
      { name: 'wal_retrieve_retry_interval', value: '1s' },
      // A fast shutdown waits for every WAL sender; one whose replica vanished (a partition) holds up a
      // switchover until this timeout (PostgreSQL's default is 60s).
      { name: 'wal_sender_timeout', value: '10s' },
      // Crash recovery starts by flushing the data directory: one syncfs() of its filesystem instead of an fsync() of
      // every file, which took seconds on every restart after a crash or a pg_rewind (PostgreSQL 14+).
      ...(this.postgresVersion >= 14 ? [{ name: 'recovery_init_sync_method', value: 'syncfs' }] : []),
    ];
    const written = [...managed, ...defaults.filter(d => !extra.some(e => e.name === d.name)), ...extra];
    const conflict = conflictingSettingsReason(new Map(written.map(s => [s.name, s.value])), this.postgresVersion);
    if (conflict) throw new Error(`${owner}: ${conflict}.`);
    // The pod template carries it: a change of a setting that needs a restart rolls the pods (one switchover).
    const restartOnly = written.filter(s => needsRestart(s.name, this.postgresVersion));
    this._restartSettingsDigest = scriptsDigest(Object.fromEntries(restartOnly.map(s => [s.name, s.value])));
    this.postgresqlConf = renderConf(
      `postgresql.conf of cluster "${this.clusterName}" for PostgreSQL ${this.postgresVersion}, written by cdk8s-postgres-cluster.`,
      [
        { title: 'Connections and replication (managed by the library)', settings: managed },
        { title: 'Defaults', settings: defaults.filter(d => !extra.some(e => e.name === d.name)) },
        { title: 'extraSettings', settings: extra.filter(e => e.name !== 'wal_level') },
      ],
    );
    this.superuserOverNetwork = this.postgresVersion < 15;
    this.pgHbaConf = renderHba({
      replicationUser: this.replicationUser,
      superuser: SUPERUSER,
      superuserOverNetwork: this.superuserOverNetwork,
      requireTls: props.requireTls ?? false,
    });

    addObject(this, 'Config', api.KubeConfigMap.GVK, asJson<k8s.KubeConfigMapProps>({
      metadata: { name: this.configMapName, labels: { ...names.common } },
      data: {
        'postgresql.conf': this.postgresqlConf,
        'pg_hba.conf': this.pgHbaConf,
        [METRICS_QUERIES_KEY]: METRICS_QUERIES,
        ...(this.pgbackrestConf !== undefined ? { [PGBACKREST_CONF_KEY]: this.pgbackrestConf } : {}),
        ...(this.pgbackrestRestoreConf !== undefined ? { [PGBACKREST_RESTORE_CONF_KEY]: this.pgbackrestRestoreConf } : {}),
      },
    }));
    addObject(this, 'Init', api.KubeConfigMap.GVK, asJson<k8s.KubeConfigMapProps>({
      metadata: { name: this.initConfigMapName, labels: { ...names.common } },
      data: {
        '01-create-replication-user.sh': readScript(SCRIPT_FILES.createReplicationUser),
        [MONITORING_ROLE_SCRIPT]: MONITORING_ROLE_SQL,
        ...validateInitScripts(owner, props.initScripts ?? {}),
      },
    }));
    const scripts: Record<string, string> = {
      [SCRIPT_FILES.entrypoint]: readScript(SCRIPT_FILES.entrypoint),
      [SCRIPT_FILES.node]: readScript(SCRIPT_FILES.node),
      [AGENT_FILES.bundle]: readAgentBundle(),
      [AGENT_FILES.sidecarConfig]: JSON.stringify(sidecarConfigOf(this, names), undefined, 2),
      [SCRIPT_FILES.leaderRecord]: readScript(SCRIPT_FILES.leaderRecord),
      [SCRIPT_FILES.common]: readScript(SCRIPT_FILES.common),
      [SCRIPT_FILES.ensureSecrets]: readScript(SCRIPT_FILES.ensureSecrets),
      [SCRIPT_FILES.backup]: readScript(SCRIPT_FILES.backup),
      [SCRIPT_FILES.leaseFence]: readScript(SCRIPT_FILES.leaseFence),
      ...(this.walArchive ? { [SCRIPT_FILES.archiveBackup]: readScript(SCRIPT_FILES.archiveBackup) } : {}),
    };
    this._scriptsDigest = scriptsDigest(scripts);
    addObject(this, 'Scripts', api.KubeConfigMap.GVK, asJson<k8s.KubeConfigMapProps>({
      metadata: { name: this.scriptsConfigMapName, labels: { ...names.common } },
      data: scripts,
    }));
    if (certificate !== undefined) {
      const namespace = Chart.of(this).namespace;
      const services = [names.writeService, names.readService, names.anyService];
      // cert-manager.io/v1 Certificate, typed from its CRD (imports/cert-manager-certificate-crd.yaml).
      const { Certificate, CertificateSpecPrivateKeyAlgorithm, CertificateSpecPrivateKeyRotationPolicy } = loadCertManager();
      new Certificate(this, 'Certificate', {
        metadata: { name: `${this.clusterName}-tls`, labels: { ...names.common } },
        spec: {
          secretName: certificate.secretName,
          issuerRef: { name: certificate.issuer.name, kind: certificate.issuer.kind ?? 'Issuer', group: 'cert-manager.io' },
          commonName: names.writeService,
          dnsNames: [
            ...services,
            `*.${names.headlessService}`,
            // With the chart's namespace known, the names clients in other namespaces use too.
            ...(namespace ? [...services, names.headlessService].map(n => `${n === names.headlessService ? '*.' : ''}${n}.${namespace}.svc`) : []),
          ],
          privateKey: {
            algorithm: CertificateSpecPrivateKeyAlgorithm.ECDSA,
            size: 256,
            rotationPolicy: CertificateSpecPrivateKeyRotationPolicy.ALWAYS,
          },
        },
      });
    }
    if (passwordsGiven) {
      // Both keys are needed: the one not given gets the reference design's password.
      addObject(this, 'Secret', api.KubeSecret.GVK, asJson<k8s.KubeSecretProps>({
        metadata: { name: this.secretName, labels: { ...names.common } },
        type: 'Opaque',
        data: {
          'password': base64(props.superuserPassword ?? 'postgres'),
          'replication-password': base64(props.replicationPassword ?? 'replicator'),
        },
      }));
    }
    if (props.appPassword !== undefined) {
      const host = names.writeService;
      addObject(this, 'AppSecret', api.KubeSecret.GVK, asJson<k8s.KubeSecretProps>({
        metadata: { name: this.appSecretName, labels: { ...names.common } },
        type: 'Opaque',
        data: {
          username: base64(this.appUser),
          password: base64(props.appPassword),
          dbname: base64(this.database),
          host: base64(host),
          port: base64(String(POSTGRES_PORT)),
          uri: base64(`postgresql://${this.appUser}:${encodeURIComponent(props.appPassword)}@${host}:${POSTGRES_PORT}/${this.database}`),
        },
      }));
    }
  }

  /** @internal */
  public get _names(): ClusterNames {
    return clusterNames(this.clusterName);
  }

  /**
   * @internal An S3 bucket's options checked as walArchive.s3's are, named `prop` in errors, its path by default "/<defaultPath>"
   * (the logical backup's copy, backupS3).
   */
  public _resolveS3(owner: string, s3: S3RepositoryOptions, prop: string, defaultPath: string): S3RepositorySettings {
    return resolveS3(owner, s3, prop, defaultPath);
  }
}

/** The key of the cluster's ConfigMap that holds pgbackrest.conf (mounted at PATHS.pgbackrestConf). */
const PGBACKREST_CONF_KEY = 'pgbackrest.conf';
/** The key that holds the restore's pgbackrest.conf (mounted at PATHS.pgbackrestRestoreConf). */
const PGBACKREST_RESTORE_CONF_KEY = 'pgbackrest-restore.conf';

/** The sidecar agent's configuration document (src/agent/config.ts): everything it needs but the pod's name. */
function sidecarConfigOf(config: PostgresConfig, names: ClusterNames): SidecarConfig {
  return {
    version: SIDECAR_CONFIG_VERSION,
    leaderRecord: names.leaderRecord,
    recordLabels: names.common,
    clusterSelector: Object.entries(names.selector).map(([key, value]) => `${key}=${value}`).join(','),
    statefulSet: names.statefulSet,
    roleLabel: ROLE_LABEL,
    primaryHost: names.writeService,
    port: POSTGRES_PORT,
    pgdata: PATHS.pgdata,
    socketDir: PATHS.runDir,
    recordFile: `${PATHS.runDir}/leader-record`,
    eventFile: `${PATHS.runDir}/pod-event`,
    startPlanFile: `${PATHS.runDir}/start-plan`,
    restoreFrom: config.restore !== undefined,
    users: {
      superuser: SUPERUSER,
      replication: config.replicationUser,
      app: config.appUser,
      // The sidecars' checks of other pods: the superuser only where PostgreSQL needs it (before 15, for pg_rewind).
      network: config.superuserOverNetwork ? SUPERUSER : config.replicationUser,
    },
    appDatabase: config.database,
    secretDir: PATHS.secretDir,
    appSecretDir: PATHS.appSecretDir,
    configDir: PATHS.configDir,
    postgresVersion: config.postgresVersion,
    tlsSecretDir: config.tlsSecretName !== undefined ? PATHS.tlsSecretDir : '',
    passwordFile: `${PATHS.credentialsDir}/pgpass`,
    tls: config.tlsMode !== 'off',
    synchronousReplicas: config.synchronousReplicas,
    peerDomain: names.headlessService,
    timing: {
      pollSeconds: 1,
      reassertSeconds: 30,
      isolationFenceSeconds: ISOLATION_FENCE_SECONDS,
      walCheckSeconds: 10,
      maintainSeconds: 10,
      apiTimeoutSeconds: 2,
    },
    automaticFailover: config._automaticFailover,
  };
}

/** The agents' settings when automatic failover is off. */
const AUTOMATIC_FAILOVER_OFF: AutomaticFailoverConfig = {
  enabled: false,
  leaseSeconds: 10,
  renewSeconds: 2,
  renewDeadlineSeconds: 6,
  primaryRestartGraceSeconds: 30,
  minimumIntervalSeconds: 60,
  maximumLagBytes: 1_048_576,
  deadlineFile: LEASE_DEADLINE_FILE,
};

/** Seconds a primary past its renew deadline has to finish fencing itself before a replica may take over. */
const FENCE_MARGIN_SECONDS = 2;

/**
 * The agents' automatic failover settings from the props, or an Error that names the value and the fix. The timers are
 * checked against each other as resolved: a value given alone must fit the defaults of the others.
 */
function resolveAutomaticFailover(owner: string, options: AutomaticFailoverOptions | undefined): AutomaticFailoverConfig {
  if (options === undefined) return AUTOMATIC_FAILOVER_OFF;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new Error(`${owner}: automaticFailover ${JSON.stringify(options)} is not a set of options: give {} to turn automatic failover on `
      + 'with the defaults, or { leaseDurationSeconds: 20, renewDeadlineSeconds: 15 }; leave it out to keep it off.');
  }
  const prop = (name: keyof AutomaticFailoverOptions) => `automaticFailover.${name}`;
  // Only undefined means the default: a null from a JavaScript caller is refused as not an integer.
  const given = (name: keyof AutomaticFailoverOptions, byDefault: number) => options[name] === undefined ? byDefault : options[name] as number;
  const d = AUTOMATIC_FAILOVER_OFF;
  const lease = given('leaseDurationSeconds', d.leaseSeconds);
  validateInteger(owner, prop('leaseDurationSeconds'), lease, 1, MAX_INT32,
    'seconds without a renewal before a replica takes over; the Lease keeps them as a 32-bit integer');
  const renew = given('renewIntervalSeconds', d.renewSeconds);
  validateInteger(owner, prop('renewIntervalSeconds'), renew, 1, Number.MAX_SAFE_INTEGER, 'seconds between two renewals of the lease');
  const deadline = given('renewDeadlineSeconds', d.renewDeadlineSeconds);
  validateInteger(owner, prop('renewDeadlineSeconds'), deadline, 1, Number.MAX_SAFE_INTEGER,
    'seconds after its last successful renewal began before a primary fences itself');
  const restartGrace = given('primaryRestartGraceSeconds', d.primaryRestartGraceSeconds);
  validateInteger(owner, prop('primaryRestartGraceSeconds'), restartGrace, 1, Number.MAX_SAFE_INTEGER,
    'seconds a primary whose PostgreSQL stopped keeps its lease to restart in place');
  const minimumInterval = given('minimumFailoverIntervalSeconds', d.minimumIntervalSeconds);
  validateInteger(owner, prop('minimumFailoverIntervalSeconds'), minimumInterval, 0, Number.MAX_SAFE_INTEGER,
    'seconds after a change of primary before the next automatic failover; 0 for none');
  const maximumLag = given('maximumLagOnFailover', d.maximumLagBytes);
  validateInteger(owner, prop('maximumLagOnFailover'), maximumLag, 0, Number.MAX_SAFE_INTEGER,
    'bytes of WAL a replica may be behind and still take over');

  // A value the caller left out is shown with "by default": the fix may be to set it.
  const shownTimer = (name: keyof AutomaticFailoverOptions, value: number) =>
    `${prop(name)} ${options[name] === undefined ? `(${value} by default)` : value}`;
  if (renew >= deadline) {
    const longerDeadline = renew + 1;
    const fixes = [
      ...(deadline > 1 ? [`renewIntervalSeconds to at most ${deadline - 1}`] : []),
      `renewDeadlineSeconds to at least ${longerDeadline}`
        + (lease < longerDeadline + FENCE_MARGIN_SECONDS ? ` and leaseDurationSeconds to at least ${longerDeadline + FENCE_MARGIN_SECONDS}` : ''),
    ];
    throw new Error(`${owner}: ${shownTimer('renewIntervalSeconds', renew)} is not shorter than ${shownTimer('renewDeadlineSeconds', deadline)}: `
      + `the primary would fence itself before its next renewal. Set ${fixes.join(', or ')}.`);
  }
  if (deadline + FENCE_MARGIN_SECONDS > lease) {
    const shorterDeadline = lease - FENCE_MARGIN_SECONDS;
    const fixes = [
      `leaseDurationSeconds to at least ${deadline + FENCE_MARGIN_SECONDS}`,
      ...(shorterDeadline > renew ? [`renewDeadlineSeconds to at most ${shorterDeadline}`]
        : shorterDeadline > 1 ? [`renewDeadlineSeconds to at most ${shorterDeadline} and renewIntervalSeconds to at most ${shorterDeadline - 1}`]
          : []),
    ];
    throw new Error(`${owner}: ${shownTimer('leaseDurationSeconds', lease)} is too short for ${shownTimer('renewDeadlineSeconds', deadline)}: `
      + `the lease must outlast the renew deadline by at least ${FENCE_MARGIN_SECONDS} seconds, for a primary that cannot renew to finish `
      + `fencing itself before a replica may take over. Set ${fixes.join(', or ')}.`);
  }
  return {
    enabled: true,
    leaseSeconds: lease,
    renewSeconds: renew,
    renewDeadlineSeconds: deadline,
    primaryRestartGraceSeconds: restartGrace,
    minimumIntervalSeconds: minimumInterval,
    maximumLagBytes: maximumLag,
    deadlineFile: LEASE_DEADLINE_FILE,
  };
}

function resolveWalArchive(
  owner: string, options: WalArchiveOptions | undefined, names: ClusterNames,
): { settings: WalArchiveSettings; archiveTimeout: string } | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new Error(`${owner}: walArchive ${JSON.stringify(options)} is not a set of options: give {} for the defaults, or { storageClassName: "nfs", ... }.`);
  }
  const prop = (name: string) => `walArchive.${name}`;
  validateTypes(owner, options, {
    storage: 'string',
    storageClassName: 'string',
    existingClaimName: 'string',
    fullBackupSchedule: 'string',
    diffBackupSchedule: 'string',
    archiveTimeout: 'string',
    asyncArchive: 'boolean',
    encryptionPassphraseSecretName: 'string',
    encryptionPassphraseSecretKey: 'string',
  }, 'walArchive.');
  const s3 = resolveS3Repository(owner, options, names);
  const azure = resolveAzureRepository(owner, options, names);
  const gcs = resolveGcsRepository(owner, options, names);
  const inStore = s3 !== undefined || azure !== undefined || gcs !== undefined;
  const storage = options.storage ?? '50Gi';
  validateStorageSize(owner, prop('storage'), storage);
  validateObjectName(owner, prop('storageClassName'), options.storageClassName);
  validateObjectName(owner, prop('existingClaimName'), options.existingClaimName);
  if (options.existingClaimName !== undefined && (options.storage !== undefined || options.storageClassName !== undefined)) {
    throw new Error(`${owner}: walArchive.existingClaimName "${options.existingClaimName}" is given with walArchive.`
      + `${options.storage !== undefined ? 'storage' : 'storageClassName'}, which only the claim the YAML creates would use. Drop one of them.`);
  }
  const fullBackupSchedule = options.fullBackupSchedule ?? '0 1 * * 0';
  validateCronSchedule(owner, prop('fullBackupSchedule'), fullBackupSchedule);
  const diffBackupSchedule = options.diffBackupSchedule ?? '0 1 * * 1-6';
  validateCronSchedule(owner, prop('diffBackupSchedule'), diffBackupSchedule);
  const retentionFull = options.retentionFull ?? 2;
  validateInteger(owner, prop('retentionFull'), retentionFull, 1, 9_999_999, 'the number of full backups kept');
  const archiveTimeout = options.archiveTimeout ?? '5min';
  validatePostgresDuration(owner, prop('archiveTimeout'), archiveTimeout);
  validateObjectName(owner, prop('encryptionPassphraseSecretName'), options.encryptionPassphraseSecretName);
  if (options.encryptionPassphraseSecretKey !== undefined && options.encryptionPassphraseSecretName === undefined) {
    throw new Error(`${owner}: walArchive.encryptionPassphraseSecretKey "${options.encryptionPassphraseSecretKey}" is given without `
      + 'walArchive.encryptionPassphraseSecretName: name the Secret that holds the passphrase, or drop the key.');
  }
  const encryptionKey = options.encryptionPassphraseSecretName !== undefined ? options.encryptionPassphraseSecretKey ?? 'passphrase' : undefined;
  validateConfigKey(owner, prop('encryptionPassphraseSecretKey'), encryptionKey);
  return {
    settings: {
      stanza: names.cluster,
      claimName: inStore ? undefined : options.existingClaimName ?? names.archive,
      createClaim: !inStore && options.existingClaimName === undefined,
      storage,
      storageClassName: options.storageClassName,
      fullBackupSchedule,
      diffBackupSchedule,
      retentionFull,
      asyncArchive: options.asyncArchive ?? false,
      ...(s3 ? { s3 } : {}),
      ...(azure ? { azure } : {}),
      ...(gcs ? { gcs } : {}),
      ...(encryptionKey !== undefined ? {
        encryptionPassphraseSecretName: options.encryptionPassphraseSecretName,
        encryptionPassphraseSecretKey: encryptionKey,
      } : {}),
    },
    archiveTimeout,
  };
}

/** A bucket name S3 accepts (general purpose buckets): 3 to 63 lower-case letters, digits, "." and "-". */
const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** A host name or IPv4 address, with an optional port. */
const S3_ENDPOINT = /^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)(:(\d{1,5}))?$/;
/** A key of a Secret or ConfigMap. */
const CONFIG_KEY = /^[-._a-zA-Z0-9]{1,253}$/;

function validateConfigKey(owner: string, prop: string, key: string | undefined): void {
  if (key !== undefined && !CONFIG_KEY.test(key)) {
    throw new Error(`${owner}: ${prop} ${JSON.stringify(key)} is not a key of a Secret or ConfigMap: use letters, digits, "-", "_" and ".", e.g. "ca.crt".`);
  }
}

function resolveS3Repository(owner: string, options: WalArchiveOptions, names: ClusterNames): S3RepositorySettings | undefined {
  if (options.s3 === undefined) return undefined;
  validateNoClaimProps(owner, options, 's3', 'bucket');
  return resolveS3(owner, options.s3, 'walArchive.s3', names.cluster);
}

/** An S3 repository's options (`prop`: walArchive.s3 or restoreFrom.s3), checked; its path defaults to "/<stanza>". */
function resolveS3(owner: string, s3: S3RepositoryOptions, prop: string, stanza: string): S3RepositorySettings {
  if (typeof s3 !== 'object' || s3 === null || Array.isArray(s3)) {
    throw new Error(`${owner}: ${prop} ${JSON.stringify(s3)} is not an S3 repository: give { bucket: "my-backups", credentials: S3Credentials.fromSecret("my-s3-keys") }.`);
  }
  validateTypes(owner, s3, { bucket: 'string', path: 'string', region: 'string', endpoint: 'string', uriStyle: 'string', verifyTls: 'boolean' }, `${prop}.`);
  const bucket = s3.bucket;
  if (bucket === undefined || bucket === '') {
    throw new Error(`${owner}: ${prop}.bucket is ${bucket === '' ? 'empty' : 'missing'}: name the bucket that holds the repository (it must exist), e.g. "orders-db-backups".`);
  }
  if (!S3_BUCKET.test(bucket) || bucket.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(bucket) || bucket.startsWith('xn--') || bucket.endsWith('-s3alias')) {
    throw new Error(`${owner}: ${prop}.bucket "${bucket}" is not a bucket name S3 accepts: use 3 to 63 lower-case letters, digits, "-" and ".", `
      + 'starting and ending with a letter or digit, no "..", not an IP address, e.g. "orders-db-backups".');
  }
  const path = s3.path ?? `/${stanza}`;
  validateRepositoryPath(owner, prop, 'bucket', path, stanza);
  const region = s3.region ?? 'us-east-1';
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(region)) {
    throw new Error(`${owner}: ${prop}.region "${region}" is not a region: use lower-case letters, digits and "-", e.g. "eu-west-1".`);
  }
  const endpoint = resolveEndpoint(owner, prop, s3.endpoint ?? `s3.${region}.amazonaws.com`, 'minio.storage.svc:9000');
  const uriStyle = s3.uriStyle ?? S3UriStyle.HOST;
  validateUriStyle(owner, prop, uriStyle, Object.values(S3UriStyle), 'S3UriStyle', endpoint, 'bucket');
  const verifyTls = s3.verifyTls ?? true;
  const ca = s3.caCertificate;
  validateRepositoryCa(owner, prop, ca, verifyTls, 's3-ca');
  const credentials = s3.credentials;
  if (!(credentials instanceof S3Credentials)) {
    throw new Error(`${owner}: ${prop}.credentials ${credentials === undefined ? 'is missing' : `${shown(credentials)} is not S3Credentials`}: `
      + 'give S3Credentials.fromSecret("my-s3-keys") (an access key in a Secret) or S3Credentials.webIdentity() (IAM roles for service accounts).');
  }
  validateObjectName(owner, `${prop}.credentials secret name`, credentials.secretName);
  validateConfigKey(owner, `${prop}.credentials access key id key`, credentials.accessKeyIdKey);
  validateConfigKey(owner, `${prop}.credentials secret access key key`, credentials.secretAccessKeyKey);
  return {
    bucket,
    path,
    region,
    endpoint: endpoint.host,
    port: endpoint.port,
    uriStyle,
    verifyTls,
    caCertificate: ca,
    credentialsSecretName: credentials.secretName,
    accessKeyIdKey: credentials.accessKeyIdKey,
    secretAccessKeyKey: credentials.secretAccessKeyKey,
  };
}

/** An IPv4 address. */
const IPV4 = /^\d+\.\d+\.\d+\.\d+$/;

/** A repository in an object store has no volume: the volume's options are a mistake, named with the fix. */
function validateNoClaimProps(owner: string, options: WalArchiveOptions, store: 's3' | 'azure' | 'gcs', where: string): void {
  for (const claimProp of ['storage', 'storageClassName', 'existingClaimName'] as const) {
    if (options[claimProp] !== undefined) {
      throw new Error(`${owner}: walArchive.${claimProp} "${options[claimProp]}" is given with walArchive.${store}: the repository is in the ${where}, `
        + `and no archive volume is created or mounted. Drop walArchive.${claimProp}, or walArchive.${store} to keep the repository on a volume.`);
    }
  }
}

/** The repository's directory in a bucket or container (`prop`: e.g. walArchive.s3): absolute, no trailing "/". */
function validateRepositoryPath(owner: string, prop: string, where: string, path: string, stanza: string): void {
  if (!/^\/([A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*)?$/.test(path)) {
    throw new Error(`${owner}: ${prop}.path "${path}" is not a directory in the ${where}: give an absolute path of letters, digits, `
      + `".", "_" and "-", without a trailing "/", e.g. "/${stanza}".`);
  }
}

/**
 * A URI style, one of `styles` (the values of the enum `enumName`). "host" puts the bucket or account (`what`) in the
 * endpoint's host name, which an IP address cannot carry.
 */
function validateUriStyle(owner: string, prop: string, uriStyle: string, styles: string[], enumName: string,
  endpoint: { text: string; host: string }, what: string): void {
  if (!styles.includes(uriStyle)) {
    throw new Error(`${owner}: ${prop}.uriStyle ${JSON.stringify(uriStyle)} is not a URI style: use ${enumName}.HOST or ${enumName}.PATH.`);
  }
  if (uriStyle === 'host' && IPV4.test(endpoint.host)) {
    throw new Error(`${owner}: ${prop}.endpoint "${endpoint.text}" is an IP address, which cannot carry the ${what} in its host name: `
      + `set ${prop}.uriStyle to ${enumName}.PATH.`);
  }
}

/** An object store's endpoint: a host with an optional port, no scheme (pgBackRest speaks HTTPS only), no path. */
function resolveEndpoint(owner: string, prop: string, text: string, example: string): { text: string; host: string; port: number } {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw new Error(`${owner}: ${prop}.endpoint "${text}" has a scheme: give the host alone, with a port if not 443 `
      + `("${text.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/\/.*$/, '')}"): pgBackRest always speaks HTTPS.`);
  }
  const endpoint = S3_ENDPOINT.exec(text);
  const port = endpoint?.[6] !== undefined ? Number(endpoint[6]) : 443;
  if (endpoint === null || port < 1 || port > 65_535) {
    throw new Error(`${owner}: ${prop}.endpoint "${text}" is not a host with an optional port: give a host name or IP address, `
      + `and ":<port>" if it is not 443, without a path, e.g. "${example}".`);
  }
  return { text, host: endpoint[1], port };
}

/** The CA of an object store's endpoint (`prop`: e.g. walArchive.s3): a RepositoryCaCertificate, only while the certificate is verified. */
function validateRepositoryCa(owner: string, prop: string, ca: RepositoryCaCertificate | undefined, verifyTls: boolean, example: string): void {
  if (ca === undefined) return;
  if (!(ca instanceof RepositoryCaCertificate)) {
    throw new Error(`${owner}: ${prop}.caCertificate ${shown(ca)} is not a RepositoryCaCertificate: give `
      + `RepositoryCaCertificate.fromSecret("${example}") or RepositoryCaCertificate.fromConfigMap("${example}").`);
  }
  if (!verifyTls) {
    throw new Error(`${owner}: ${prop}.caCertificate is given with ${prop}.verifyTls false: a certificate that is not verified `
      + 'needs no CA. Drop one of them (keep the CA: verifying is what keeps the backups safe).');
  }
  validateObjectName(owner, `${prop}.caCertificate secret name`, ca.secretName);
  validateObjectName(owner, `${prop}.caCertificate ConfigMap name`, ca.configMapName);
  validateConfigKey(owner, `${prop}.caCertificate key`, ca.key);
}

/** A container name Azure accepts: 3 to 63 lower-case letters, digits and single "-", starting and ending with a letter or digit. */
const AZURE_CONTAINER = /^[a-z0-9](-?[a-z0-9])+$/;
/** A storage account name Azure accepts: 3 to 24 lower-case letters and digits. */
const AZURE_ACCOUNT = /^[a-z0-9]{3,24}$/;

function resolveAzureRepository(owner: string, options: WalArchiveOptions, names: ClusterNames): AzureRepositorySettings | undefined {
  const azure = options.azure;
  if (azure === undefined) return undefined;
  if (options.s3 !== undefined) {
    throw new Error(`${owner}: walArchive.s3 (bucket ${JSON.stringify(options.s3?.bucket)}) and walArchive.azure (container `
      + `${JSON.stringify(azure?.container)}) are both given: pgBackRest archives into one repository. Keep one of them.`);
  }
  validateNoClaimProps(owner, options, 'azure', 'container');
  return resolveAzure(owner, azure, 'walArchive.azure', names.cluster);
}

/** An Azure repository's options (`prop`: walArchive.azure or restoreFrom.azure), checked; its path defaults to "/<stanza>". */
function resolveAzure(owner: string, azure: AzureRepositoryOptions, prop: string, stanza: string): AzureRepositorySettings {
  if (typeof azure !== 'object' || azure === null || Array.isArray(azure)) {
    throw new Error(`${owner}: ${prop} ${JSON.stringify(azure)} is not an Azure repository: give { account: "mystorageaccount", `
      + 'container: "my-backups", credentials: AzureCredentials.fromSecret("my-azure-key") }.');
  }
  validateTypes(owner, azure, { container: 'string', account: 'string', path: 'string', endpoint: 'string', uriStyle: 'string', verifyTls: 'boolean' },
    `${prop}.`);
  const container = azure.container;
  if (container === undefined || container === '') {
    throw new Error(`${owner}: ${prop}.container is ${container === '' ? 'empty' : 'missing'}: name the container that holds the `
      + 'repository (it must exist), e.g. "orders-db-backups".');
  }
  if (container.length < 3 || container.length > 63 || !AZURE_CONTAINER.test(container)) {
    throw new Error(`${owner}: ${prop}.container "${container}" is not a container name Azure accepts: use 3 to 63 lower-case `
      + 'letters, digits and single "-", starting and ending with a letter or digit, e.g. "orders-db-backups".');
  }
  const account = azure.account;
  if (account === undefined || account === '') {
    throw new Error(`${owner}: ${prop}.account is ${account === '' ? 'empty' : 'missing'}: name the storage account that holds `
      + `container "${container}", e.g. "ordersbackups".`);
  }
  if (!AZURE_ACCOUNT.test(account)) {
    throw new Error(`${owner}: ${prop}.account "${account}" is not a storage account name: use 3 to 24 lower-case letters and `
      + 'digits, e.g. "ordersbackups".');
  }
  const path = azure.path ?? `/${stanza}`;
  validateRepositoryPath(owner, prop, 'container', path, stanza);
  const endpoint = resolveEndpoint(owner, prop, azure.endpoint ?? 'blob.core.windows.net', 'azurite.storage.svc:10000');
  const uriStyle = azure.uriStyle ?? AzureUriStyle.HOST;
  validateUriStyle(owner, prop, uriStyle, Object.values(AzureUriStyle), 'AzureUriStyle', endpoint, 'account');
  const verifyTls = azure.verifyTls ?? true;
  const ca = azure.caCertificate;
  validateRepositoryCa(owner, prop, ca, verifyTls, 'azure-ca');
  const credentials = azure.credentials;
  if (!(credentials instanceof AzureCredentials)) {
    throw new Error(`${owner}: ${prop}.credentials ${credentials === undefined ? 'is missing' : `${shown(credentials)} is not AzureCredentials`}: `
      + 'give AzureCredentials.fromSecret("my-azure-key") (the account\'s shared key in a Secret) or '
      + 'AzureCredentials.sharedAccessSignature("my-azure-sas") (a SAS token in a Secret).');
  }
  validateObjectName(owner, `${prop}.credentials secret name`, credentials.secretName);
  validateConfigKey(owner, `${prop}.credentials key`, credentials.key);
  return {
    container,
    account,
    path,
    endpoint: endpoint.host,
    port: endpoint.port,
    uriStyle,
    verifyTls,
    caCertificate: ca,
    credentialsSecretName: credentials.secretName,
    credentialsKey: credentials.key,
    keyType: credentials.keyType,
  };
}

/**
 * A bucket name GCS accepts: 3 to 63 lower-case letters, digits, "-", "_" and ".", starting and ending with a letter or
 * digit (names with dots may be longer on GCS, up to 222 characters, but only for verified domains: not taken here).
 */
const GCS_BUCKET = /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/;

function resolveGcsRepository(owner: string, options: WalArchiveOptions, names: ClusterNames): GcsRepositorySettings | undefined {
  const gcs = options.gcs;
  if (gcs === undefined) return undefined;
  if (options.s3 !== undefined) {
    throw new Error(`${owner}: walArchive.s3 (bucket ${JSON.stringify(options.s3?.bucket)}) and walArchive.gcs (bucket ${JSON.stringify(gcs?.bucket)}) `
      + 'are both given: a cluster has one repository. Drop walArchive.s3 to keep it in Google Cloud Storage, or walArchive.gcs to keep it in S3.');
  }
  if (options.azure !== undefined) {
    throw new Error(`${owner}: walArchive.azure (container ${JSON.stringify(options.azure?.container)}) and walArchive.gcs (bucket `
      + `${JSON.stringify(gcs?.bucket)}) are both given: a cluster has one repository. Drop walArchive.azure to keep it in Google Cloud `
      + 'Storage, or walArchive.gcs to keep it in Azure.');
  }
  validateNoClaimProps(owner, options, 'gcs', 'bucket');
  return resolveGcs(owner, gcs, 'walArchive.gcs', names.cluster);
}

/** A GCS repository's options (`prop`: walArchive.gcs or restoreFrom.gcs), checked; its path defaults to "/<stanza>". */
function resolveGcs(owner: string, gcs: GcsRepositoryOptions, prop: string, stanza: string): GcsRepositorySettings {
  if (typeof gcs !== 'object' || gcs === null || Array.isArray(gcs)) {
    throw new Error(`${owner}: ${prop} ${JSON.stringify(gcs)} is not a GCS repository: give { bucket: "my-backups", `
      + 'credentials: GcsCredentials.fromServiceAccountKey("my-gcs-key") }.');
  }
  validateTypes(owner, gcs, { bucket: 'string', path: 'string', endpoint: 'string', verifyTls: 'boolean' }, `${prop}.`);
  const bucket = gcs.bucket;
  if (bucket === undefined || bucket === '') {
    throw new Error(`${owner}: ${prop}.bucket is ${bucket === '' ? 'empty' : 'missing'}: name the bucket that holds the repository (it must exist), e.g. "orders-db-backups".`);
  }
  if (!GCS_BUCKET.test(bucket) || bucket.includes('..') || IPV4.test(bucket) || bucket.startsWith('goog') || bucket.includes('google')) {
    throw new Error(`${owner}: ${prop}.bucket "${bucket}" is not a bucket name GCS accepts: use 3 to 63 lower-case letters, digits, "-", "_" and ".", `
      + 'starting and ending with a letter or digit, no "..", not an IP address, not starting with "goog" nor containing "google", e.g. "orders-db-backups".');
  }
  const path = gcs.path ?? `/${stanza}`;
  validateRepositoryPath(owner, prop, 'bucket', path, stanza);
  const endpoint = resolveEndpoint(owner, prop, gcs.endpoint ?? 'storage.googleapis.com', 'gcs.storage.svc:4443');
  const verifyTls = gcs.verifyTls ?? true;
  const ca = gcs.caCertificate;
  validateRepositoryCa(owner, prop, ca, verifyTls, 'gcs-ca');
  const credentials = gcs.credentials;
  if (!(credentials instanceof GcsCredentials)) {
    throw new Error(`${owner}: ${prop}.credentials ${credentials === undefined ? 'is missing' : `${shown(credentials)} is not GcsCredentials`}: `
      + 'give GcsCredentials.fromServiceAccountKey("my-gcs-key") (a service account\'s JSON key in a Secret) '
      + 'or GcsCredentials.workloadIdentity() (GKE Workload Identity).');
  }
  validateObjectName(owner, `${prop}.credentials secret name`, credentials.secretName);
  validateConfigKey(owner, `${prop}.credentials key`, credentials.key);
  return {
    bucket,
    path,
    endpoint: endpoint.host,
    port: endpoint.port,
    verifyTls,
    caCertificate: ca,
    keyType: credentials.keyType,
    credentialsSecretName: credentials.secretName,
    credentialsKey: credentials.key,
  };
}

/** A time with its zone, as recovery_target_time takes it: "2026-12-02 08:00:00+00", "2026-12-02T08:00:00.5Z". */
const TARGET_TIME = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}(:?\d{2})?)$/;

function resolveRestore(
  owner: string, options: RestoreFromOptions | undefined, archive: WalArchiveSettings | undefined,
): RestoreSettings | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new Error(`${owner}: restoreFrom ${JSON.stringify(options)} is not a restore: give { clusterName: "postgres", claimName: "postgres-archive" }.`);
  }
  validateTypes(owner, options, {
    clusterName: 'string', claimName: 'string', targetTime: 'string', encryptionPassphraseSecretName: 'string', encryptionPassphraseSecretKey: 'string',
  }, 'restoreFrom.');
  if (options.clusterName === undefined) {
    throw new Error(`${owner}: restoreFrom.clusterName is missing: name the cluster whose backups to restore (its pgBackRest stanza).`);
  }
  validateClusterName(owner, options.clusterName, 'restoreFrom.clusterName');
  validateObjectName(owner, 'restoreFrom.claimName', options.claimName);
  if (options.s3 !== undefined && options.claimName !== undefined) {
    throw new Error(`${owner}: restoreFrom.claimName "${options.claimName}" is given with restoreFrom.s3: a restore reads one repository. `
      + 'Drop restoreFrom.claimName to restore from the bucket, or restoreFrom.s3 to restore from the volume.');
  }
  if (options.azure !== undefined && options.claimName !== undefined) {
    throw new Error(`${owner}: restoreFrom.claimName "${options.claimName}" is given with restoreFrom.azure: a restore reads one repository. `
      + 'Drop restoreFrom.claimName to restore from the container, or restoreFrom.azure to restore from the volume.');
  }
  if (options.gcs !== undefined && options.claimName !== undefined) {
    throw new Error(`${owner}: restoreFrom.claimName "${options.claimName}" is given with restoreFrom.gcs: a restore reads one repository. `
      + 'Drop restoreFrom.claimName to restore from the bucket, or restoreFrom.gcs to restore from the volume.');
  }
  if (options.s3 !== undefined && options.azure !== undefined) {
    throw new Error(`${owner}: restoreFrom.s3 (bucket ${JSON.stringify(options.s3?.bucket)}) and restoreFrom.azure (container `
      + `${JSON.stringify(options.azure?.container)}) are both given: a restore reads one repository. Keep the one that holds cluster "${options.clusterName}".`);
  }
  if (options.gcs !== undefined && options.s3 !== undefined) {
    throw new Error(`${owner}: restoreFrom.s3 (bucket ${JSON.stringify(options.s3?.bucket)}) and restoreFrom.gcs (bucket ${JSON.stringify(options.gcs?.bucket)}) `
      + `are both given: a restore reads one repository. Keep the one that holds cluster "${options.clusterName}".`);
  }
  if (options.gcs !== undefined && options.azure !== undefined) {
    throw new Error(`${owner}: restoreFrom.azure (container ${JSON.stringify(options.azure?.container)}) and restoreFrom.gcs (bucket `
      + `${JSON.stringify(options.gcs?.bucket)}) are both given: a restore reads one repository. Keep the one that holds cluster "${options.clusterName}".`);
  }
  const s3 = options.s3 !== undefined ? resolveS3(owner, options.s3, 'restoreFrom.s3', options.clusterName) : undefined;
  const azure = options.azure !== undefined ? resolveAzure(owner, options.azure, 'restoreFrom.azure', options.clusterName) : undefined;
  const gcs = options.gcs !== undefined ? resolveGcs(owner, options.gcs, 'restoreFrom.gcs', options.clusterName) : undefined;
  const inStore = s3 !== undefined || azure !== undefined || gcs !== undefined;
  const claimName = inStore ? undefined : options.claimName ?? archive?.claimName;
  if (!inStore && claimName === undefined && archive?.s3 === undefined && archive?.azure === undefined && archive?.gcs === undefined) {
    throw new Error(`${owner}: restoreFrom.claimName is missing and walArchive is off: name the PersistentVolumeClaim that holds `
      + `the repository of cluster "${options.clusterName}" (or its bucket, restoreFrom.s3 or restoreFrom.gcs, or its container, restoreFrom.azure), `
      + 'or turn walArchive on to restore from this cluster\'s own.');
  }
  const ownArchive = !inStore && claimName === archive?.claimName;
  const passphraseSecret = options.encryptionPassphraseSecretName;
  validateObjectName(owner, 'restoreFrom.encryptionPassphraseSecretName', passphraseSecret);
  if (options.encryptionPassphraseSecretKey !== undefined && passphraseSecret === undefined) {
    throw new Error(`${owner}: restoreFrom.encryptionPassphraseSecretKey "${options.encryptionPassphraseSecretKey}" is given without `
      + 'restoreFrom.encryptionPassphraseSecretName: name the Secret that holds the passphrase, or drop the key.');
  }
  if (passphraseSecret !== undefined && ownArchive) {
    throw new Error(`${owner}: restoreFrom.encryptionPassphraseSecretName "${passphraseSecret}" is given for this cluster's own repository, which `
      + 'is read with its own passphrase (walArchive.encryptionPassphraseSecretName). Drop it, or name the repository (restoreFrom.claimName, restoreFrom.s3, restoreFrom.azure or restoreFrom.gcs).');
  }
  const passphraseKey = passphraseSecret !== undefined ? options.encryptionPassphraseSecretKey ?? 'passphrase' : undefined;
  validateConfigKey(owner, 'restoreFrom.encryptionPassphraseSecretKey', passphraseKey);
  const targetTime = options.targetTime;
  if (targetTime !== undefined && (!TARGET_TIME.test(targetTime) || Number.isNaN(Date.parse(targetTime.replace(' ', 'T').replace(/([+-]\d{2})$/, '$1:00'))))) {
    throw new Error(`${owner}: restoreFrom.targetTime ${JSON.stringify(targetTime)} is not a time with its zone: give one such as `
      + '"2026-12-02 08:00:00+00" or "2026-12-02T08:00:00Z" (without a zone, it would be read in the server\'s).');
  }
  return {
    stanza: options.clusterName,
    ...(ownArchive ? {} : { claimName }),
    ...(s3 ? { s3 } : {}),
    ...(azure ? { azure } : {}),
    ...(gcs ? { gcs } : {}),
    ownArchive,
    targetTime,
    ...(passphraseKey !== undefined ? { encryptionPassphraseSecretName: passphraseSecret, encryptionPassphraseSecretKey: passphraseKey } : {}),
  };
}

/**
 * The lines of pgBackRest's [global] section that say where repo1 is: a bucket, a container, or a directory (a volume's
 * mount). `gcsKeyFile`: where a GCS service account's key file is mounted.
 */
function repositoryLines(
  repository: { s3?: S3RepositorySettings; azure?: AzureRepositorySettings; gcs?: GcsRepositorySettings } | undefined,
  directory: string, caFile: string, encrypted: boolean, gcsKeyFile: string,
): string[] {
  const s3 = repository?.s3;
  const azure = repository?.azure;
  const gcs = repository?.gcs;
  return [
    ...(s3 ? [
      '# The repository in an S3 bucket. Credentials come from the environment (PGBACKREST_REPO1_S3_KEY...), never from here.',
      'repo1-type=s3',
      `repo1-path=${s3.path}`,
      `repo1-s3-bucket=${s3.bucket}`,
      `repo1-s3-endpoint=${s3.endpoint}`,
      `repo1-s3-region=${s3.region}`,
      `repo1-s3-uri-style=${s3.uriStyle}`,
      ...(s3.port !== 443 ? [`repo1-storage-port=${s3.port}`] : []),
      ...(s3.verifyTls ? [] : ['repo1-storage-verify-tls=n']),
      ...(s3.caCertificate ? [`repo1-storage-ca-file=${caFile}`] : []),
      ...(s3.credentialsSecretName === undefined ? ['repo1-s3-key-type=web-id'] : []),
    ] : azure ? [
      '# The repository in an Azure Blob container. The key comes from the environment (PGBACKREST_REPO1_AZURE_KEY), never from here.',
      'repo1-type=azure',
      `repo1-path=${azure.path}`,
      `repo1-azure-account=${azure.account}`,
      `repo1-azure-container=${azure.container}`,
      `repo1-azure-endpoint=${azure.endpoint}`,
      `repo1-azure-uri-style=${azure.uriStyle}`,
      `repo1-azure-key-type=${azure.keyType}`,
      ...(azure.port !== 443 ? [`repo1-storage-port=${azure.port}`] : []),
      ...(azure.verifyTls ? [] : ['repo1-storage-verify-tls=n']),
      ...(azure.caCertificate ? [`repo1-storage-ca-file=${caFile}`] : []),
    ] : gcs ? [
      gcs.keyType === 'service'
        ? '# The repository in a GCS bucket. The service account\'s key is a file mounted from its Secret, never written here.'
        : `# The repository in a GCS bucket. ${gcs.keyType === 'token' ? 'The token comes from the environment (PGBACKREST_REPO1_GCS_KEY), never from here.' : 'The token comes from the metadata server (Workload Identity).'}`,
      'repo1-type=gcs',
      `repo1-path=${gcs.path}`,
      `repo1-gcs-bucket=${gcs.bucket}`,
      `repo1-gcs-endpoint=${gcs.endpoint}${gcs.port !== 443 ? `:${gcs.port}` : ''}`,
      `repo1-gcs-key-type=${gcs.keyType}`,
      ...(gcs.keyType === 'service' ? [`repo1-gcs-key=${gcsKeyFile}`] : []),
      ...(gcs.verifyTls ? [] : ['repo1-storage-verify-tls=n']),
      ...(gcs.caCertificate ? [`repo1-storage-ca-file=${caFile}`] : []),
    ] : [`repo1-path=${directory}`]),
    ...(encrypted ? [
      '# The passphrase comes from the environment (PGBACKREST_REPO1_CIPHER_PASS).',
      'repo1-cipher-type=aes-256-cbc',
    ] : []),
  ];
}

/** The stanza section: this pod's PostgreSQL. */
function stanzaLines(stanza: string): string[] {
  return [
    `[${stanza}]`,
    `pg1-path=${PATHS.pgdata}`,
    `pg1-socket-path=${PATHS.runDir}`,
    `pg1-port=${POSTGRES_PORT}`,
    `pg1-user=${SUPERUSER}`,
    '',
  ];
}

/**
 * The configuration of a restore from another cluster's repository: that repository as repo1, only read. The
 * entrypoint runs the restore and its replay with it (and the repository's secrets as PGBACKREST_* variables, from
 * RESTORE_PGBACKREST_*), so that this cluster's own repository, if any, is never written by the restore.
 */
function renderRestoreConf(clusterName: string, restore: RestoreSettings): string {
  return [
    `# pgBackRest configuration of the restore of cluster "${restore.stanza}" into cluster "${clusterName}" (restoreFrom), written by cdk8s-postgres-cluster.`,
    '# Read by the entrypoint only, when it restores the first primary; the repository is only read.',
    '[global]',
    ...repositoryLines(restore, PATHS.restoreArchiveDir, `${PATHS.restoreCaDir}/${S3_CA_FILE}`, restore.encryptionPassphraseSecretName !== undefined,
      `${PATHS.restoreGcsKeyDir}/${GCS_KEY_FILE}`),
    `lock-path=${PATHS.runDir}/pgbackrest`,
    'log-level-console=info',
    'log-level-file=off',
    '',
    ...stanzaLines(restore.stanza),
  ].join('\n');
}

/** pgBackRest's configuration: the repository (a volume or a bucket), this cluster's stanza, locks where every container sees them. */
function renderPgbackrestConf(clusterName: string, archive: WalArchiveSettings | undefined): string {
  return [
    `# pgBackRest configuration of cluster "${clusterName}", written by cdk8s-postgres-cluster.`,
    '[global]',
    ...repositoryLines(archive, PATHS.archiveDir, `${PATHS.archiveCaDir}/${S3_CA_FILE}`, archive?.encryptionPassphraseSecretName !== undefined,
      `${PATHS.archiveGcsKeyDir}/${GCS_KEY_FILE}`),
    ...(archive ? [`repo1-retention-full=${archive.retentionFull}`] : []),
    '# Every container of a pod shares this directory: archive-push, a backup and stanza-create see one another\'s locks.',
    `lock-path=${PATHS.runDir}/pgbackrest`,
    '# Logs go to the container\'s output (the root filesystem is read-only).',
    'log-level-console=info',
    'log-level-file=off',
    '# A backup starts with an immediate checkpoint, not the next scheduled one.',
    'start-fast=y',
    'compress-type=lz4',
    ...(archive?.asyncArchive ? [
      '# The asynchronous archiver\'s queue (its state only: a segment counts as archived once it is in the repository).',
      `spool-path=${PATHS.runDir}/pgbackrest-spool`,
      '',
      '# archive-push only: a background process pushes the waiting segments ahead, two at a time (walArchive.asyncArchive).',
      '[global:archive-push]',
      'archive-async=y',
      'process-max=2',
    ] : []),
    '',
    ...stanzaLines(clusterName),
  ].join('\n');
}

/** The generated cert-manager module, loaded only when a Certificate is made: it adds ~0.05 s to every `cdk8s synth`. */
function loadCertManager(): typeof import('./private/imports/cert-manager.io.generated') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./private/imports/cert-manager.io.generated');
}

function base64(value: string): string {
  return Buffer.from(value, 'utf8').toString('base64');
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

function validateIdentifier(owner: string, prop: string, value: string): void {
  if (!IDENTIFIER.test(value)) {
    throw new Error(
      `${owner}: ${prop} "${value}" is not a plain PostgreSQL name: use 1-63 lower-case letters, digits and "_", not starting with a digit.`,
    );
  }
}

function validateExtraSettings(owner: string, settings: { [name: string]: string }, version: number): Setting[] {
  return Object.entries(settings).map(([name, value]) => {
    validateSettingName(owner, name);
    const key = name.toLowerCase();
    if (typeof value !== 'string') {
      throw new Error(`${owner}: extraSettings["${name}"] must be a string such as "256MB"; got ${JSON.stringify(value)}.`);
    }
    validateSettingValue(owner, name, value);
    const reason = unknownSettingReason(name, version);
    if (reason) throw new Error(`${owner}: extraSettings: ${reason}.`);
    if (TYPED_PROP[key]) {
      throw new Error(`${owner}: set "${name}" with the ${TYPED_PROP[key]} property, not extraSettings.`);
    }
    if (key === 'wal_level' && value === 'logical') return { name: key, value };
    if (LIBRARY_OWNED.includes(key)) {
      throw new Error(
        `${owner}: extraSettings may not set "${name}": the library manages it for replication and failover to work` +
        `${key === 'wal_level' ? ' (only "logical" may replace "replica")' : ''}.`,
      );
    }
    const invalid = invalidSettingValueReason(name, value, version);
    if (invalid) throw new Error(`${owner}: extraSettings: ${invalid}.`);
    return { name: key, value };
  });
}

/** Settings that replication, the scripts and the Services depend on (some the entrypoint sets on the command line). */
const LIBRARY_OWNED = [
  'listen_addresses', 'port', 'wal_level', 'hot_standby', 'wal_log_hints', 'password_encryption',
  'config_file', 'hba_file', 'data_directory', 'cluster_name', 'primary_conninfo', 'unix_socket_directories',
  'recovery_target_timeline', 'primary_slot_name',
];

/** What walArchive sets: not for extraSettings while it is on. */
const ARCHIVE_SETTINGS = ['archive_mode', 'archive_command', 'archive_library', 'archive_timeout'];

const TYPED_PROP: { [setting: string]: string } = {
  max_wal_senders: 'maxWalSenders',
  wal_keep_size: 'walKeepSize',
  max_slot_wal_keep_size: 'maxSlotWalKeepSize',
  synchronous_standby_names: 'synchronousReplicas',
  max_connections: 'maxConnections',
  ssl: 'tls',
  ssl_cert_file: 'tlsSecretName',
  ssl_key_file: 'tlsSecretName',
};

function validateInitScripts(owner: string, scripts: { [fileName: string]: string }): { [fileName: string]: string } {
  for (const fileName of Object.keys(scripts)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*\.(sql|sh)$/.test(fileName)) {
      throw new Error(`${owner}: initScripts file name "${fileName}" must end in .sql or .sh and use letters, digits, ".", "_" and "-".`);
    }
    if (fileName === '01-create-replication-user.sh' || fileName === MONITORING_ROLE_SCRIPT) {
      throw new Error(`${owner}: initScripts may not replace "${fileName}": the library creates the ${fileName === MONITORING_ROLE_SCRIPT ? 'metrics' : 'replication'} role with it.`);
    }
  }
  return scripts;
}
