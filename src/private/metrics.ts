/** The Prometheus community's PostgreSQL exporter, run as a sidecar of every pod. */
export const DEFAULT_METRICS_IMAGE = 'quay.io/prometheuscommunity/postgres-exporter:v0.15.0';
export const METRICS_PORT = 9187;
export const METRICS_PORT_NAME = 'metrics';
export const METRICS_CONTAINER = 'metrics';
/** The exporter's role: read-only statistics (pg_monitor), login over the pod's Unix socket only. */
export const METRICS_USER = 'postgres_exporter';
/** Where the exporter's container sees the configuration ConfigMap, and the queries in it. */
export const METRICS_CONFIG_DIR = '/etc/postgres-exporter';
export const METRICS_QUERIES_KEY = 'exporter-queries.yaml';
export const MONITORING_ROLE_SCRIPT = '02-create-monitoring-role.sql';

/** Run once, by the first primary, while the cluster is initialized. */
export const MONITORING_ROLE_SQL = `-- The metrics sidecar's role: reads statistics (pg_monitor), writes nothing; pg_hba lets it in over the Unix socket.
CREATE ROLE ${METRICS_USER} WITH LOGIN;
GRANT pg_monitor TO ${METRICS_USER};
`;

/**
 * The cluster's own metrics, besides the exporter's defaults: the pod's role, and replication lag in bytes
 * (on a replica, WAL received but not replayed yet; on the primary, per replica, WAL not replayed there yet);
 * on the primary with archiving on, pg_stat_archiver and the segments waiting to be archived.
 */
export const METRICS_QUERIES = `# Queries of the postgres_exporter sidecar (--extend.query-path), written by cdk8s-postgres-cluster.
pg_cluster:
  query: "SELECT CASE WHEN pg_is_in_recovery() THEN 1 ELSE 0 END AS is_replica, coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0) AS replay_lag_bytes"
  metrics:
    - is_replica:
        usage: "GAUGE"
        description: "1 when this server is a replica (in recovery), 0 when it is the primary"
    - replay_lag_bytes:
        usage: "GAUGE"
        description: "On a replica: WAL received but not replayed yet, in bytes (0 on the primary)"
pg_cluster_replica:
  query: "SELECT application_name AS replica, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) AS replay_lag_bytes FROM pg_stat_replication WHERE NOT pg_is_in_recovery() AND replay_lsn IS NOT NULL"
  metrics:
    - replica:
        usage: "LABEL"
        description: "The replica's pod"
    - replay_lag_bytes:
        usage: "GAUGE"
        description: "On the primary: WAL the replica has not replayed yet, in bytes"
pg_cluster_archiver:
  query: "SELECT archived_count, failed_count, coalesce(extract(epoch FROM last_archived_time), 0) AS last_archive_timestamp_seconds, (SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready') AS waiting_segments FROM pg_stat_archiver WHERE NOT pg_is_in_recovery() AND current_setting('archive_mode') <> 'off'"
  metrics:
    - archived_count:
        usage: "COUNTER"
        description: "On the primary, when archiving is on: WAL segments archived since the statistics began"
    - failed_count:
        usage: "COUNTER"
        description: "On the primary, when archiving is on: failed tries to archive a WAL segment"
    - last_archive_timestamp_seconds:
        usage: "GAUGE"
        description: "On the primary, when archiving is on: when a segment was last archived (Unix time; 0: never)"
    - waiting_segments:
        usage: "GAUGE"
        description: "On the primary, when archiving is on: WAL segments waiting in pg_wal to be archived"
`;
