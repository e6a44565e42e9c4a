// Kubernetes 1.27 API types, as shipped by cdk8s-plus-27 (`cdk8s import k8s` needs the network).
// Never edit by hand; the library's own code imports `k8s` from 'cdk8s-plus-27' so jsii can compile it.
export * from 'cdk8s-plus-27/lib/imports/k8s';
