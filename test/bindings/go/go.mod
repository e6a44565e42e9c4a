// A Go user of the binding: `go test` run by test/bindings.test.ts against the modules jsii-pacmak generated into ../go.
module bindingtest

go 1.25

require (
	github.com/aws/jsii-runtime-go v1.141.0
	github.com/cdk8s-postgres-cluster/cdk8s-postgres-cluster-go/cdk8spostgrescluster v0.0.0
	github.com/cdk8s-team/cdk8s-core-go/cdk8s/v2 v2.70.106
)

// The binding and the cdk8s modules it needs, as jsii-pacmak generated them from node_modules: the Go module proxy
// that this project's machines reach serves no cdk8s-core-go or cdk8s-plus-go.
replace (
	github.com/aws/constructs-go/constructs/v10 => ../go/constructs
	github.com/cdk8s-postgres-cluster/cdk8s-postgres-cluster-go/cdk8spostgrescluster => ../go/cdk8spostgrescluster
	github.com/cdk8s-team/cdk8s-core-go/cdk8s/v2 => ../go/cdk8s
	github.com/cdk8s-team/cdk8s-plus-go/cdk8splus27/v2 => ../go/cdk8splus27
)

// That proxy lacks jsii-runtime-go v1.140.0, which jsii-pacmak 1.140 asks for; v1.141.0 speaks the same protocol.
replace github.com/aws/jsii-runtime-go v1.140.0 => github.com/aws/jsii-runtime-go v1.141.0
