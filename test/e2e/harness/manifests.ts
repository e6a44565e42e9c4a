import * as fs from 'fs';
import { parseAllDocuments } from 'yaml';

/** A Kubernetes object as written in the synthesized YAML. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly labels?: Record<string, string>; readonly [field: string]: any };
  readonly [field: string]: any;
}

export function loadManifests(file: string): KubeObject[] {
  return parseAllDocuments(fs.readFileSync(file, 'utf8'))
    .map(doc => doc.toJS() as KubeObject)
    .filter(obj => obj && obj.kind);
}

export class Manifests {
  public static fromFile(file: string): Manifests {
    return new Manifests(loadManifests(file));
  }

  constructor(public readonly objects: readonly KubeObject[]) {}

  public all(kind: string): KubeObject[] {
    return this.objects.filter(o => o.kind === kind);
  }

  public get(kind: string, name: string): KubeObject {
    const found = this.objects.find(o => o.kind === kind && o.metadata.name === name);
    if (!found) throw new Error(`the manifests have no ${kind} ${name}`);
    return found;
  }

  public only(kind: string): KubeObject {
    const found = this.all(kind);
    if (found.length !== 1) throw new Error(`expected exactly one ${kind} in the manifests, found ${found.length}`);
    return found[0];
  }
}

export function matchesSelector(labels: Record<string, string>, selector: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}
