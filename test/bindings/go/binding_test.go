// The Go binding, as a Go user calls it; test/bindings.test.ts passes what TypeScript wrote and said.
package bindingtest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/jsii-runtime-go"
	"github.com/cdk8s-postgres-cluster/cdk8s-postgres-cluster-go/cdk8spostgrescluster"
	"github.com/cdk8s-team/cdk8s-core-go/cdk8s/v2"
)

func TestDefaultClusterSynthesizesByteForByteAsDist(t *testing.T) {
	outdir := t.TempDir()
	app := cdk8s.NewApp(&cdk8s.AppProps{Outdir: jsii.String(outdir)})
	cdk8spostgrescluster.NewPostgresClusterChart(app, jsii.String("postgres-cluster"), nil)
	app.Synth()

	expected, err := os.ReadFile(os.Getenv("DIST_YAML"))
	if err != nil {
		t.Fatal(err)
	}
	actual, err := os.ReadFile(filepath.Join(outdir, "postgres-cluster.k8s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(expected, actual) {
		t.Fatalf("the Go binding wrote %d bytes that differ from dist/'s %d", len(actual), len(expected))
	}
}

func TestFailsWhenReplicasIsZeroWithTheMessageTypeScriptGives(t *testing.T) {
	app := cdk8s.NewApp(&cdk8s.AppProps{Outdir: jsii.String(t.TempDir())})
	defer func() {
		// jsii panics with the JavaScript error; its message is the first line, the JavaScript stack follows.
		message := strings.SplitN(fmt.Sprint(recover()), "\n", 2)[0]
		if expected := os.Getenv("EXPECTED_ERROR"); message != expected {
			t.Fatalf("got %q, want %q", message, expected)
		}
	}()
	cdk8spostgrescluster.NewPostgresClusterChart(app, jsii.String("postgres-cluster"), &cdk8spostgrescluster.PostgresClusterChartProps{
		Replicas: jsii.Number(0),
	})
	t.Fatal("no panic")
}
