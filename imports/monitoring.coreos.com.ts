// prometheus-operator's PodMonitor (monitoring.coreos.com/v1), as `cdk8s import` generates it from
// imports/prometheus-operator-pod-monitor-crd.yaml (its header says how to regenerate). Never edit by hand. The generated module
// lives in src/private/imports/ so that the library can use it (jsii compiles only src/); it is not public API:
// PostgresStatefulSet has its own props (podMonitor).
export * from '../src/private/imports/monitoring.coreos.com.generated';
