import { App } from 'cdk8s';
import { PostgresClusterChart } from './src';

// `cdk8s synth` runs this file: the default cluster (3 pods, PostgreSQL 15) into dist/.
try {
  const app = new App();
  new PostgresClusterChart(app, 'postgres-cluster');
  app.synth();
} catch (error) {
  // Bad props explain themselves; a stack trace would only hide the message.
  console.error(`error: ${(error as Error).message}`);
  process.exit(1);
}
