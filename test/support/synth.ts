import { App, Chart, Testing } from 'cdk8s';
import { PostgresClusterChart, PostgresClusterChartProps } from '../../src';

export type Manifest = { apiVersion: string; kind: string; metadata: { name: string; [k: string]: any }; [k: string]: any };

/** Synthesizes a cluster chart (the defaults unless props say otherwise) into plain objects. */
export function synthCluster(props: PostgresClusterChartProps = {}): Manifest[] {
  const app = Testing.app();
  const chart = new PostgresClusterChart(app, 'postgres-cluster', props);
  return Testing.synth(chart) as Manifest[];
}

export function synthChart(build: (chart: Chart) => void): Manifest[] {
  const chart = Testing.chart();
  build(chart);
  return Testing.synth(chart) as Manifest[];
}

export function find(objects: Manifest[], kind: string, name: string): Manifest {
  const found = objects.find(o => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in: ${objects.map(o => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found;
}

export function container(objects: Manifest[], name: string, statefulSet = 'postgres-cluster'): any {
  const sts = find(objects, 'StatefulSet', statefulSet);
  return sts.spec.template.spec.containers.find((c: any) => c.name === name);
}

export function envOf(c: any, name: string): any {
  return (c.env ?? []).find((e: any) => e.name === name);
}

export { App };
