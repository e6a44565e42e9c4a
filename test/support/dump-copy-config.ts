import { DUMP_COPY_CONFIG_VERSION, DumpCopyConfig } from '../../src/agent/config';

/** A dump copy's configuration document as the library writes it: a path-style endpoint on loopback. */
export const DUMP_COPY_DOCUMENT: DumpCopyConfig = {
  version: DUMP_COPY_CONFIG_VERSION,
  dumpDir: '/backup',
  database: 'myapp',
  retention: 2,
  bucket: 'dumps',
  path: '/postgres/logical',
  endpoint: '127.0.0.1',
  port: 9000,
  region: 'us-east-1',
  uriStyle: 'path',
  verifyTls: true,
};
