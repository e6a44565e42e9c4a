import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parse } from 'yaml';
import { Manifest } from './synth';

// The CRDs in imports/, rebuilt from the @kubernetes-models packages, that the typed classes of the custom resources
// the library writes were imported from (`cdk8s import`; each YAML's header says how).
// Checked as the API server checks a structural schema, and stricter: an unknown field is an error, not silently dropped.
export type CrdSchema = {
  'type'?: string;
  'enum'?: unknown[];
  'required'?: string[];
  'properties'?: { [key: string]: CrdSchema };
  'additionalProperties'?: CrdSchema;
  'items'?: CrdSchema;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
};

/** The CRD in imports/ of each custom resource the library writes, by apiVersion/kind. */
export const CRDS: { [apiVersionKind: string]: string } = {
  'argoproj.io/v1alpha1/Application': 'argo-cd-application-crd.yaml',
  'cert-manager.io/v1/Certificate': 'cert-manager-certificate-crd.yaml',
  'monitoring.coreos.com/v1/PodMonitor': 'prometheus-operator-pod-monitor-crd.yaml',
};

// Read on first use, not while a test file loads. Parsing the Application CRD's 280 kB of YAML takes about a second,
// which a mutation run (Stryker) would pay for each mutant: each CRD's JSON is cached in the temp directory, named by
// the YAML's hash.
const schemas = new Map<string, CrdSchema>();

/** The openAPIV3Schema of version `version` of the CRD imports/<file>. */
export function crdSchema(file: string, version: string): CrdSchema {
  const key = `${file}#${version}`;
  if (!schemas.has(key)) {
    const yaml = fs.readFileSync(path.join(__dirname, '..', '..', 'imports', file), 'utf8');
    const cached = path.join(os.tmpdir(), `${path.basename(file, '.yaml')}-${createHash('sha256').update(yaml).digest('hex').slice(0, 16)}.json`);
    let crd: any;
    try {
      crd = JSON.parse(fs.readFileSync(cached, 'utf8'));
    } catch {
      crd = parse(yaml);
      const partial = `${cached}.${process.pid}`;
      fs.writeFileSync(partial, JSON.stringify(crd));
      fs.renameSync(partial, cached);
    }
    schemas.set(key, crd.spec.versions.find((v: any) => v.name === version).schema.openAPIV3Schema as CrdSchema);
  }
  return schemas.get(key)!;
}

/** The schema of the object's CRD in imports/ (CRDS), or undefined for a kind without one (the built-in kinds). */
export function crdSchemaOf(object: Manifest): CrdSchema | undefined {
  const file = CRDS[`${object.apiVersion}/${object.kind}`];
  return file === undefined ? undefined : crdSchema(file, object.apiVersion.split('/')[1]);
}

/** Where the value breaks the schema, one line each (a JSON pointer and why); empty when it is valid. */
export function schemaErrors(value: unknown, schema: CrdSchema, at = ''): string[] {
  const where = at || '/';
  if (schema['x-kubernetes-int-or-string']) {
    return Number.isInteger(value) || typeof value === 'string' ? [] : [`${where}: ${JSON.stringify(value)} is not an integer or string`];
  }
  const actual = value === null ? 'null' : Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value;
  if (schema.type && actual !== schema.type && !(schema.type === 'number' && actual === 'integer')) {
    return [`${where}: ${JSON.stringify(value)} is not of type ${schema.type}`];
  }
  if (schema.enum && !schema.enum.includes(value)) return [`${where}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`];
  if (actual === 'array' && schema.items) {
    return (value as unknown[]).flatMap((item, i) => schemaErrors(item, schema.items!, `${at}/${i}`));
  }
  if (actual !== 'object' || (!schema.properties && !schema.additionalProperties)) return [];
  const object = value as { [key: string]: unknown };
  const errors = (schema.required ?? []).filter(key => !(key in object)).map(key => `${at}/${key}: required, missing`);
  for (const [key, item] of Object.entries(object)) {
    const itemSchema = schema.properties?.[key] ?? schema.additionalProperties;
    if (itemSchema) errors.push(...schemaErrors(item, itemSchema, `${at}/${key}`));
    else if (!schema['x-kubernetes-preserve-unknown-fields']) errors.push(`${at}/${key}: not in the schema`);
  }
  return errors;
}
