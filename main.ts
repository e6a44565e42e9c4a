import { App, Chart } from 'cdk8s';
import { ArgoCdApplication, PostgresClusterChart } from './src';

// `cdk8s synth` runs this file: the default cluster (3 pods, PostgreSQL 15) into dist/.
// With ARGOCD_REPO_URL=<git URL>, also an Argo CD Application that deploys dist/ from that repository, written
// to dist/argocd/: a subdirectory, which neither Argo CD (directory.recurse is off) nor `kubectl apply -f dist/` deploys.
try {
  const app = new App();
  const cluster = new PostgresClusterChart(app, 'postgres-cluster');
  app.synth();
  const repoUrl = process.env.ARGOCD_REPO_URL;
  if (repoUrl) {
    const argocd = new App({ outdir: `${app.outdir}/argocd` });
    new ArgoCdApplication(new Chart(argocd, 'postgres-cluster-argocd'), 'Application', { statefulSet: cluster.statefulSet, repoUrl });
    argocd.synth();
  }
} catch (error) {
  // Bad props explain themselves; a stack trace would only hide the message.
  console.error(`error: ${(error as Error).message}`);
  process.exit(1);
}
