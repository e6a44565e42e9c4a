import type { k8s } from 'cdk8s-plus-27';

/**
 * The Kubernetes 1.27 API's classes and JSON converters, loaded on their own: `require('cdk8s-plus-27')`
 * also loads every cdk8s-plus construct, which costs `cdk8s synth` about 0.4 s. The library's public
 * types still name them as `k8s` of 'cdk8s-plus-27' (a type-only import), as jsii requires.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const api: typeof k8s = require('cdk8s-plus-27/lib/imports/k8s');

/**
 * Props of a Kubernetes object, checked by the compiler against its typed props (`k8s.KubeXxxProps`) but
 * kept as written, without the converter's (`k8s.toJson_KubeXxxProps`) copy of every field: synthesis stays
 * as fast as with raw ApiObjects. Almost every typed field has its JSON name; the few that do not
 * (`clusterIp` for clusterIP, `downwardApi` for downwardAPI) must go through their part's converter, and the
 * reference, snapshot and schema tests catch one that does not. Quantities and int-or-strings are written in
 * their JSON form (quantity, intOrString).
 */
export function asJson<T extends object>(props: T): Record<string, any> {
  return props;
}

/** A quantity ("10Gi") as it appears in JSON, where typed props want a k8s.Quantity. */
export function quantity(value: string): k8s.Quantity {
  return value as unknown as k8s.Quantity;
}

/** A port number or name as it appears in JSON, where typed props want a k8s.IntOrString. */
export function intOrString(value: number | string): k8s.IntOrString {
  return value as unknown as k8s.IntOrString;
}

/** Pod Security "restricted" for a container, on a root filesystem it cannot write to: it writes only to its volumes. */
export function restrictedContainer(): k8s.SecurityContext {
  return { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true };
}

/**
 * Pod Security "restricted" for a pod that runs as the postgres images' user (uid/gid `uid`): never root, the
 * runtime's seccomp profile; with `fsGroup`, its volumes writable by that group.
 */
export function postgresUserPod(uid: number, fsGroup?: { changePolicy?: string }): k8s.PodSecurityContext {
  return {
    runAsUser: uid,
    runAsGroup: uid,
    ...(fsGroup ? { fsGroup: uid } : {}),
    runAsNonRoot: true,
    ...(fsGroup?.changePolicy ? { fsGroupChangePolicy: fsGroup.changePolicy } : {}),
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/**
 * What a job's container that runs one of the cluster's scripts mounts: the scripts' ConfigMap (executable) and its own
 * /tmp (scratch files and kubectl's cache), since the root filesystem is read-only.
 */
export function scriptJobVolumes(scriptsConfigMapName: string, scriptsDir: string): { mounts: k8s.VolumeMount[]; volumes: k8s.Volume[] } {
  return {
    mounts: [{ name: scriptsConfigMapName, mountPath: scriptsDir }, { name: 'tmp', mountPath: '/tmp' }],
    volumes: [{ name: scriptsConfigMapName, configMap: { name: scriptsConfigMapName, defaultMode: 0o755 } }, { name: 'tmp', emptyDir: {} }],
  };
}

/** Where a certificate authority is: a key of a Secret or of a ConfigMap you manage (RepositoryCaCertificate). */
export interface CaSource {
  readonly secretName?: string;
  readonly configMapName?: string;
  readonly key: string;
}

/** A volume that holds a certificate authority (its Secret's or ConfigMap's key) as `file`, readable by every user. */
export function caVolume(name: string, ca: CaSource, file: string): k8s.Volume {
  const items = { items: [{ key: ca.key, path: file }], defaultMode: 0o444 };
  return {
    name,
    ...(ca.secretName !== undefined ? { secret: { secretName: ca.secretName, ...items } } : { configMap: { name: ca.configMapName, ...items } }),
  };
}

/** A volume that holds one key of your Secret as `file`: root-owned and group-readable (fsGroup), as key files must be. */
export function secretKeyVolume(name: string, secretName: string, key: string, file: string): k8s.Volume {
  return { name, secret: { secretName, items: [{ key, path: file }], defaultMode: 0o440 } };
}
