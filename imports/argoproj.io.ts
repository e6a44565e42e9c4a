// Argo CD's Application (argoproj.io/v1alpha1), as `cdk8s import` generates it from imports/argo-cd-application-crd.yaml
// (its header says how to regenerate). Never edit by hand. The generated module lives in src/private/imports/ so that
// the library can use it (jsii compiles only src/); it is not public API: ArgoCdApplication has its own props.
export * from '../src/private/imports/argoproj.io.generated';
