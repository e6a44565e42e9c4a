// Rebuilds a CRD from its npm package of kubernetes-models (@kubernetes-models/<package>, a devDependency):
// fields, descriptions and required fields from its TypeScript declarations; integer and format from its
// validator (each number is probed with 0.5, each string with "%"). Prints the CRD as YAML.
// Usage (from the project root; the recipe is in the header of the YAML, imports/<target>-crd.yaml):
//   node imports/crd-from-kubernetes-models.js <target> [<unpacked package dir>] > imports/<target>-crd.yaml
// <target> is one of the TARGETS below. The package is the installed devDependency (node_modules/<package>) unless
// its unpacked directory is given (`npm pack <package>@<version>`; then run it with NODE_PATH=node_modules).
'use strict';
const path = require('path');
const ts = require('typescript');
const YAML = require('yaml');

/** The CRDs the library writes objects of: the package and kind, and the CRD's metadata and names (upstream's). */
const TARGETS = {
  'argo-cd-application': {
    title: "Argo CD's Application CRD",
    package: '@kubernetes-models/argo-cd',
    group: 'argoproj.io',
    version: 'v1alpha1',
    kind: 'Application',
    labels: { 'app.kubernetes.io/name': 'applications.argoproj.io', 'app.kubernetes.io/part-of': 'argocd' },
    names: { kind: 'Application', listKind: 'ApplicationList', plural: 'applications', shortNames: ['app', 'apps'], singular: 'application' },
    subresources: {},
    importDir: '/tmp/argo-import',
  },
  'cert-manager-certificate': {
    title: "cert-manager's Certificate CRD",
    package: '@kubernetes-models/cert-manager',
    group: 'cert-manager.io',
    version: 'v1',
    kind: 'Certificate',
    names: { kind: 'Certificate', listKind: 'CertificateList', plural: 'certificates', shortNames: ['cert', 'certs'], singular: 'certificate', categories: ['cert-manager'] },
    subresources: { status: {} },
    importDir: '/tmp/cert-manager-import',
  },
  'prometheus-operator-pod-monitor': {
    title: "prometheus-operator's PodMonitor CRD",
    package: '@kubernetes-models/prometheus-operator',
    group: 'monitoring.coreos.com',
    version: 'v1',
    kind: 'PodMonitor',
    names: { kind: 'PodMonitor', listKind: 'PodMonitorList', plural: 'podmonitors', shortNames: ['pmon'], singular: 'podmonitor', categories: ['prometheus-operator'] },
    importDir: '/tmp/prometheus-operator-import',
  },
};

const targetName = process.argv[2];
const target = TARGETS[targetName];
if (!target) {
  process.stderr.write(`usage: node imports/crd-from-kubernetes-models.js <target> [<unpacked package dir>]; targets: ${Object.keys(TARGETS).join(', ')}\n`);
  process.exit(2);
}
const apiVersion = `${target.group}/${target.version}`;
const pkgDir = path.resolve(process.argv[3] ?? path.join('node_modules', target.package));
const pkg = require(path.join(pkgDir, 'package.json'));
const dts = path.join(pkgDir, `${target.group}/${target.version}/${target.kind}.d.ts`);
// The validator's module: _schemas/ArgoprojIoV1alpha1Application.js for argoproj.io/v1alpha1 Application.
const schemaId = [...target.group.split('.'), target.version, target.kind].map(s => s[0].toUpperCase() + s.slice(1)).join('')
  .replace(/-(.)/g, (_m, c) => c.toUpperCase());
const { validate } = require(path.join(pkgDir, `_schemas/${schemaId}.js`));

const program = ts.createProgram([dts], { types: [], skipLibCheck: true });
const checker = program.getTypeChecker();
const source = program.getSourceFile(dts);
const iface = source.statements.find(s => ts.isInterfaceDeclaration(s) && s.name.text === `I${target.kind}`);
const root = checker.getTypeAtLocation(iface);

function description(symbol) {
  const text = ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim();
  return text ? { description: text } : {};
}

/** JSON pointer segments to the value: arrays get one item, maps one key "k". */
function probe(segments, value) {
  const object = { apiVersion, kind: target.kind, metadata: {}, spec: {} };
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
const crdName = `${target.names.plural}.${target.group}`;
const labels = target.labels ? { labels: target.labels } : {};
const subresources = target.subresources ? { subresources: target.subresources } : {};
const crd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: crdName, ...labels },
  spec: {
    group: target.group,
    names: target.names,
    scope: 'Namespaced',
    versions: [{ name: target.version, served: true, storage: true, ...subresources, schema: { openAPIV3Schema: schema } }],
  },
};
const yamlFile = `imports/${targetName}-crd.yaml`;
const generated = `src/private/imports/${target.group}.generated.ts`;
process.stdout.write([
  `# ${target.title} (${apiVersion}), rebuilt offline from the schema shipped in the npm package`,
  `# ${pkg.name}@${pkg.version}: fields, descriptions and required fields from its TypeScript declarations,`,
  '# integer and format from its validator. Generated by imports/crd-from-kubernetes-models.js; never edit by hand.',
  `# It is the input of \`cdk8s import\` for ${generated}. To regenerate both:`,
  `#   node imports/crd-from-kubernetes-models.js ${targetName} > ${yamlFile}`,
  `#   (cd /tmp && CDK8S_CHECK_UPGRADE=false "$OLDPWD/node_modules/.bin/cdk8s" import "$OLDPWD/${yamlFile}" \\`,
  `#      --language typescript --output ${target.importDir})   # run outside the project: in it, cdk8s import also edits cdk8s.yaml`,
  `#   mv ${target.importDir}/${target.group}.ts ${generated}`,
  '',
].join('\n') + YAML.stringify(crd, { lineWidth: 0 }));
