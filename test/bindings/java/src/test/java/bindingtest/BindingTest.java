package bindingtest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.github.cdk8s_postgres_cluster.PostgresClusterChart;
import io.github.cdk8s_postgres_cluster.PostgresClusterChartProps;
import java.nio.file.Files;
import java.nio.file.Path;
import org.cdk8s.App;
import org.cdk8s.AppProps;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Java binding, as a Java user calls it; test/bindings.test.ts passes what TypeScript wrote and said. */
class BindingTest {
  @Test
  void theDefaultClusterSynthesizesByteForByteAsDist(@TempDir Path outdir) throws Exception {
    App app = new App(AppProps.builder().outdir(outdir.toString()).build());
    new PostgresClusterChart(app, "postgres-cluster");
    app.synth();

    byte[] expected = Files.readAllBytes(Path.of(System.getenv("DIST_YAML")));
    assertArrayEquals(expected, Files.readAllBytes(outdir.resolve("postgres-cluster.k8s.yaml")));
  }

  @Test
  void failsWhenReplicasIsZeroWithTheMessageTypeScriptGives(@TempDir Path outdir) {
    App app = new App(AppProps.builder().outdir(outdir.toString()).build());
    RuntimeException error = assertThrows(RuntimeException.class,
        () -> new PostgresClusterChart(app, "postgres-cluster", PostgresClusterChartProps.builder().replicas(0).build()));
    // jsii's JsiiError puts the JavaScript stack after the message, on the lines below it.
    assertEquals(System.getenv("EXPECTED_ERROR"), error.getMessage().split("\n", 2)[0]);
  }
}
