#!/usr/bin/env node
// `npm run synth` (or `node synth.js`): what `npx cdk8s synth` does for this project, in one Node.js process.
// cdk8s-cli spends ~1.6 s starting (it loads every command, `init`'s jsii-pacmak among them) before it runs the
// app; this does what its synth command does, and only that:
//   1. reads cdk8s.yaml (`app`, `output`) from the project's root;
//   2. deletes the output directory, as cdk8s synth does (no stale files survive);
//   3. runs the app with CDK8S_OUTDIR set to that directory (and CDK8S_RECORD_CONSTRUCT_METADATA to "false"
//      unless set), the environment cdk8s synth gives it: `node [-r module]... file` in this process, any
//      other command in a shell;
//   4. lists the manifests written (or says that there are none), as cdk8s synth does.
// cdk8s.yaml options it does not implement (validations, Helm output) make it fail: use `npx cdk8s synth`.
// test/dist.test.ts checks that both write the same bytes.
'use strict';
const fs = require('fs');
const path = require('path');

function fail(message) {
  console.error(`error: ${message}`);
  process.exit(1);
}

process.chdir(__dirname);
if (process.argv.length > 2) fail(`synth.js takes no arguments (got ${process.argv.slice(2).join(' ')}): use \`npx cdk8s synth\` for its options.`);

// cdk8s's own copy of yaml, which the app loads anyway to write the manifests.
const cdk8sDir = path.dirname(require.resolve('cdk8s/package.json'));
const yaml = require(require.resolve('yaml', { paths: [cdk8sDir] }));
const config = yaml.parse(fs.readFileSync('cdk8s.yaml', 'utf8')) ?? {};
if (typeof config.app !== 'string') fail('cdk8s.yaml has no app command.');
if (config.validations !== undefined) fail('cdk8s.yaml has validations, which synth.js does not run: use `npx cdk8s synth`.');
if ((config.synthConfig?.format ?? 'plain') !== 'plain') fail('cdk8s.yaml asks for Helm output, which synth.js does not write: use `npx cdk8s synth`.');

const outdir = config.output ?? 'dist';
fs.rmSync(outdir, { recursive: true, force: true });
process.env.CDK8S_OUTDIR = outdir;
process.env.CDK8S_RECORD_CONSTRUCT_METADATA = process.env.CDK8S_RECORD_CONSTRUCT_METADATA ?? 'false';
console.log('Synthesizing application');

function manifests(directory) {
  const entries = fs.readdirSync(directory, { withFileTypes: true });
  const files = entries.filter(e => !e.isDirectory() && e.name.endsWith('.yaml')).map(e => `${directory}/${e.name}`);
  for (const e of entries) if (e.isDirectory()) files.push(...manifests(`${directory}/${e.name}`));
  return files;
}

/**
 * What `-r sucrase/register` does (sucrase's registerAll: the same transforms for each extension, files in
 * node_modules left alone, SUCRASE_OPTIONS honoured), with each result kept in .cache/synth/ under a hash of
 * everything it depends on (sucrase's version, the options, the file's path and contents): a file that has not
 * changed is not transpiled again, and sucrase is not even loaded when none has: about half of the app's time.
 * Entries are never read for a changed file, only left behind; .cache/ may be deleted at any time.
 */
function registerSucraseWithCache() {
  const Module = require('module');
  const crypto = require('crypto');
  const cacheDir = path.join(__dirname, '.cache', 'synth');
  const version = require(require.resolve('sucrase/package.json', { paths: [__dirname] })).version;
  const envOptions = process.env.SUCRASE_OPTIONS ? JSON.parse(process.env.SUCRASE_OPTIONS) : {};
  const transforms = {
    '.js': ['imports', 'flow', 'jsx'],
    '.jsx': ['imports', 'flow', 'jsx'],
    '.ts': ['imports', 'typescript'],
    '.tsx': ['imports', 'typescript', 'jsx'],
  };
  const jsLoader = Module._extensions['.js'];
  let sucrase;
  for (const [ext, extTransforms] of Object.entries(transforms)) {
    const options = { transforms: extTransforms, ...envOptions };
    Module._extensions[ext] = (module, filename) => {
      if (/^(?:.*[\\/])?node_modules(?:[\\/].*)?$/.test(filename)) return jsLoader(module, filename);
      const code = fs.readFileSync(filename, 'utf8');
      const key = crypto.createHash('sha256').update(JSON.stringify([version, options, filename, code])).digest('hex');
      const cached = path.join(cacheDir, `${key}.js`);
      let output;
      try {
        output = fs.readFileSync(cached, 'utf8');
      } catch {
        sucrase ??= require(require.resolve('sucrase', { paths: [__dirname] }));
        const result = sucrase.transform(code, { ...options, sourceMapOptions: { compiledFilename: filename }, filePath: filename });
        const map = Buffer.from(JSON.stringify(result.sourceMap)).toString('base64');
        output = `${result.code}\n//# sourceMappingURL=data:application/json;charset=utf-8;base64,${map}`;
        fs.mkdirSync(cacheDir, { recursive: true });
        // Written whole, then renamed: a run at the same time never reads half a file.
        const partial = `${cached}.${process.pid}`;
        fs.writeFileSync(partial, output);
        fs.renameSync(partial, cached);
      }
      module._compile(output, filename);
    };
  }
}

let reported = false;
function report() {
  if (reported) return;
  reported = true;
  if (!fs.existsSync(outdir)) fail(`synthesis failed, app expected to create "${outdir}"`);
  const files = manifests(outdir);
  for (const file of files) console.log(`  - ${file}`);
  if (files.length === 0) console.error('No manifests synthesized');
}

const inProcess = /^node((?:\s+-r\s+\S+)*)\s+(\S+)$/.exec(config.app.trim());
if (inProcess) {
  for (const preload of inProcess[1].split(/\s+-r\s+/).filter(Boolean)) {
    if (preload === 'sucrase/register') registerSucraseWithCache();
    else require(require.resolve(preload, { paths: [__dirname] }));
  }
  process.argv = [process.argv[0], path.resolve(inProcess[2])];
  process.once('beforeExit', report);
  require(path.resolve(inProcess[2]));
} else {
  const result = require('child_process').spawnSync(config.app, { shell: true, stdio: ['inherit', 'ignore', 'inherit'] });
  if (result.status !== 0) fail(`command "${config.app}" at ${process.cwd()} returned a non-zero exit code ${result.status}`);
  report();
}
