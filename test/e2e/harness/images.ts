/**
 * What the harness runs in place of a container image: the host's own programs, with the image's
 * environment (PATH and ENV lines) and stop signal. Only the images the manifests use are known.
 */
export interface EmulatedImage {
  readonly env: Record<string, string>;
  readonly stopSignal: NodeJS.Signals;
  /** Writable directories of the image's filesystem, with owner uid and mode, private to each container. */
  readonly writableDirs: ReadonlyArray<{ path: string; uid: number; mode: number }>;
  /** The image's ENTRYPOINT, run when the container gives no command (its args follow). */
  readonly entrypoint?: readonly string[];
}

const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const HOST_POSTGRES_MAJOR = 15;

export function emulateImage(image: string, standInBin: string): EmulatedImage {
  const postgres = /^(docker\.io\/)?(library\/)?postgres:(\d+)/.exec(image);
  if (postgres) {
    if (Number(postgres[3]) !== HOST_POSTGRES_MAJOR) {
      throw new Error(`image ${image}: this machine has PostgreSQL ${HOST_POSTGRES_MAJOR} only`);
    }
    return {
      env: {
        PATH: `${BASE_PATH}:/usr/lib/postgresql/${HOST_POSTGRES_MAJOR}/bin`,
        PG_MAJOR: String(HOST_POSTGRES_MAJOR),
        PGDATA: '/var/lib/postgresql/data',
        // The image generates en_US.utf8; this host has C.UTF-8 only.
        LANG: 'C.UTF-8',
      },
      // The postgres image's STOPSIGNAL: fast shutdown.
      stopSignal: 'SIGINT',
      writableDirs: [{ path: '/tmp', uid: 0, mode: 0o1777 }, { path: '/var/run/postgresql', uid: 999, mode: 0o3777 }],
    };
  }
  if (/^(docker\.io\/)?alpine\/k8s:/.test(image)) {
    // bash and coreutils from the host; kubectl is the harness's stand-in, first on PATH.
    return {
      env: { PATH: `${standInBin}:${BASE_PATH}` },
      stopSignal: 'SIGTERM',
      writableDirs: [{ path: '/tmp', uid: 0, mode: 0o1777 }],
    };
  }
  if (/^(quay\.io\/)?prometheuscommunity\/postgres-exporter:/.test(image)) {
    // The Prometheus community's exporter: Debian's build of it (package prometheus-postgres-exporter).
    return {
      env: { PATH: BASE_PATH },
      stopSignal: 'SIGTERM',
      writableDirs: [],
      entrypoint: ['/usr/bin/prometheus-postgres-exporter'],
    };
  }
  throw new Error(`the harness cannot emulate image ${image}`);
}
