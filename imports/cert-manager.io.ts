// cert-manager's Certificate (cert-manager.io/v1), as `cdk8s import` generates it from imports/cert-manager-certificate-crd.yaml
// (its header says how to regenerate). Never edit by hand. The generated module lives in src/private/imports/ so that
// the library can use it (jsii compiles only src/); it is not public API: PostgresConfig has its own props (certManagerIssuer).
export * from '../src/private/imports/cert-manager.io.generated';
