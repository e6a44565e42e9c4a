"""The Python binding, as a Python user calls it; test/bindings.test.ts passes what TypeScript wrote and said."""
import os
from pathlib import Path

import cdk8s
import pytest
from cdk8s_postgres_cluster import PostgresClusterChart


def test_the_default_cluster_synthesizes_byte_for_byte_as_dist(tmp_path: Path) -> None:
    app = cdk8s.App(outdir=str(tmp_path))
    PostgresClusterChart(app, "postgres-cluster")
    app.synth()

    expected = Path(os.environ["DIST_YAML"]).read_bytes()
    assert (tmp_path / "postgres-cluster.k8s.yaml").read_bytes() == expected


def test_fails_when_replicas_is_zero_with_the_message_typescript_gives(tmp_path: Path) -> None:
    app = cdk8s.App(outdir=str(tmp_path))
    with pytest.raises(RuntimeError) as error:
        PostgresClusterChart(app, "postgres-cluster", replicas=0)
    assert str(error.value) == os.environ["EXPECTED_ERROR"]
