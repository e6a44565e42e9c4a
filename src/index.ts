export * from './postgres-config';
export * from './postgres-stateful-set';
export * from './role-services';
export * from './failover-job';
export * from './logical-backup';
export * from './postgres-network-policy';
export * from './postgres-cluster-chart';
export * from './argo-cd-application';
