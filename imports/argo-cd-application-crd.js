// Rebuilds Argo CD's Application CRD (argoproj.io/v1alpha1) from the npm package @kubernetes-models/argo-cd:
// fields, descriptions and required fields from its TypeScript declarations; integer and format from its
// validator (each number is probed with 0.5, each string with "%"). Prints the CRD as YAML.
// Usage (from the project root; the recipe is in the header of imports/argo-cd-application-crd.yaml):
//   NODE_PATH=node_modules node imports/argo-cd-application-crd.js <unpacked package dir> > imports/argo-cd-application-crd.yaml
'use strict';
const path = require('path');
const ts = require('typescript');
const YAML = require('yaml');

const pkgDir = path.resolve(process.argv[2] ?? 'package');
const pkg = require(path.join(pkgDir, 'package.json'));
const dts = path.join(pkgDir, 'argoproj.io/v1alpha1/Application.d.ts');
const { validate } = require(path.join(pkgDir, '_schemas/ArgoprojIoV1alpha1Application.js'));

const program = ts.createProgram([dts], { types: [], skipLibCheck: true });
const checker = program.getTypeChecker();
const source = program.getSourceFile(dts);
const iface = source.statements.find(s => ts.isInterfaceDeclaration(s) && s.name.text === 'IApplication');
const root = checker.getTypeAtLocation(iface);

function description(symbol) {
  const text = ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim();
  return text ? { description: text } : {};
}

/** JSON pointer segments to the value: arrays get one item, maps one key "k". */
function probe(segments, value) {
  const object = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', metadata: {}, spec: {} };
  let parent = object;
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    const next = last ? value : (segments[i + 1] === 0 ? [] : {});
    if (Array.isArray(parent)) parent[0] = next; else parent[segment] = next;
    parent = next;
  });
  validate(object);
  const pointer = '/' + segments.map(s => (s === 0 ? '0' : s)).join('/');
  return (validate.errors ?? []).filter(e => e.instancePath === pointer);
}

function probedFormat(errors) {
  const format = errors.find(e => e.keyword === 'format');
  return format ? { format: format.params.format } : {};
}

function convert(type, segments) {
  // ObjectMeta is the API server's to check (a CRD schema only says "object").
  if (segments.length === 1 && segments[0] === 'metadata') return { type: 'object' };
  if (type.flags & ts.TypeFlags.Boolean || type.flags & ts.TypeFlags.BooleanLiteral) return { type: 'boolean' };
  if (type.isUnion()) {
    const parts = type.types;
    if (parts.every(p => p.flags & ts.TypeFlags.BooleanLiteral)) return { type: 'boolean' };
    if (parts.every(p => p.isStringLiteral())) return { type: 'string', enum: parts.map(p => p.value) };
    if (parts.some(p => p.flags & ts.TypeFlags.Number) && parts.some(p => p.flags & ts.TypeFlags.String)) {
      return { 'x-kubernetes-int-or-string': true };
    }
    throw new Error(`unsupported union at /${segments.join('/')}: ${checker.typeToString(type)}`);
  }
  if (type.isStringLiteral()) return { type: 'string', enum: [type.value] };
  if (type.flags & ts.TypeFlags.String) return { type: 'string', ...probedFormat(probe(segments, '%')) };
  if (type.flags & ts.TypeFlags.Number) {
    const errors = probe(segments, 0.5);
    const integer = errors.some(e => e.keyword === 'type' && e.params.type === 'integer');
    return { type: integer ? 'integer' : 'number', ...probedFormat(errors) };
  }
  if (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return { 'x-kubernetes-preserve-unknown-fields': true };
  if (checker.isArrayType(type)) {
    return { type: 'array', items: convert(checker.getTypeArguments(type)[0], [...segments, 0]) };
  }
  const schema = { type: 'object' };
  const properties = checker.getPropertiesOfType(type);
  if (properties.length > 0) {
    schema.properties = {};
    const required = [];
    for (const property of properties) {
      const propertyType = checker.getNonNullableType(checker.getTypeOfSymbolAtLocation(property, iface));
      schema.properties[property.name] = { ...description(property), ...convert(propertyType, [...segments, property.name]) };
      if (!(property.flags & ts.SymbolFlags.Optional)) required.push(property.name);
    }
    if (required.length > 0) schema.required = required;
  }
  const index = checker.getIndexTypeOfType(type, ts.IndexKind.String);
  if (index) schema.additionalProperties = convert(index, [...segments, 'k']);
  if (properties.length === 0 && !index) schema['x-kubernetes-preserve-unknown-fields'] = true;
  return schema;
}

const schema = { ...description(iface.symbol ?? checker.getSymbolAtLocation(iface.name)), ...convert(root, []) };
const crd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'applications.argoproj.io', labels: { 'app.kubernetes.io/name': 'applications.argoproj.io', 'app.kubernetes.io/part-of': 'argocd' } },
  spec: {
    group: 'argoproj.io',
    names: { kind: 'Application', listKind: 'ApplicationList', plural: 'applications', shortNames: ['app', 'apps'], singular: 'application' },
    scope: 'Namespaced',
    versions: [{ name: 'v1alpha1', served: true, storage: true, subresources: {}, schema: { openAPIV3Schema: schema } }],
  },
};
process.stdout.write([
  `# Argo CD's Application CRD (argoproj.io/v1alpha1), rebuilt offline from the schema shipped in the npm package`,
  `# ${pkg.name}@${pkg.version}: fields, descriptions and required fields from its TypeScript declarations,`,
  '# integer and format from its validator. Generated by imports/argo-cd-application-crd.js; never edit by hand.',
  '# It is the input of `cdk8s import` for src/private/imports/argoproj.io.generated.ts. To regenerate both:',
  `#   (cd /tmp && npm pack ${pkg.name}@${pkg.version} && tar xzf kubernetes-models-argo-cd-${pkg.version}.tgz)`,
  '#   NODE_PATH=node_modules node imports/argo-cd-application-crd.js /tmp/package > imports/argo-cd-application-crd.yaml',
  '#   (cd /tmp && CDK8S_CHECK_UPGRADE=false "$OLDPWD/node_modules/.bin/cdk8s" import "$OLDPWD/imports/argo-cd-application-crd.yaml" \\',
  '#      --language typescript --output /tmp/argo-import)   # run outside the project: in it, cdk8s import also edits cdk8s.yaml',
  '#   mv /tmp/argo-import/argoproj.io.ts src/private/imports/argoproj.io.generated.ts',
  '',
].join('\n') + YAML.stringify(crd, { lineWidth: 0 }));
