// The dump copy's contract: the document the library writes into the logical backup's job (DUMP_COPY_CONFIG) is read
// as written, and a bad one is refused, naming the setting and how to fix it.
import { parseDumpCopyConfig } from '../../src/agent/config';
import { DUMP_COPY_DOCUMENT as CONFIG } from '../support/dump-copy-config';

describe('the dump copy\'s configuration document', () => {
  const text = (changes: Record<string, unknown>) => JSON.stringify({ ...CONFIG, ...changes });

  test('a document the library writes is read as it is', () => {
    expect(parseDumpCopyConfig(JSON.stringify(CONFIG), 'DUMP_COPY_CONFIG')).toEqual(CONFIG);
  });

  test.each([
    [{ uriStyle: 'virtual' }, /uriStyle is "virtual": it must be "host" or "path"/],
    [{ retention: 0 }, /retention is 0: it must keep at least 1 dump/],
    [{ port: 70000 }, /port is 70000: it must be an integer from 1 to 65535/],
    [{ dumpDir: 'backup' }, /dumpDir is "backup": it must be an absolute path/],
    [{ verifyTls: 'yes' }, /verifyTls is "yes": it must be true or false/],
    [{ version: 2 }, /version is 2: this agent reads version 1/],
    [{ bucket: undefined }, /bucket is missing/],
    [{ extra: 1 }, /extra is not a setting of this version of the agent/],
  ])('a bad document is refused, naming the setting: %j', (changes, message) => {
    expect(() => parseDumpCopyConfig(text(changes), 'DUMP_COPY_CONFIG')).toThrow(message);
    expect(() => parseDumpCopyConfig(text(changes), 'DUMP_COPY_CONFIG')).toThrow(/synthesize the manifests with the library version whose agent runs/);
  });

  test('the least it keeps is 1 dump, and either URI style is read', () => {
    expect(parseDumpCopyConfig(text({ retention: 1, uriStyle: 'host' }), 'DUMP_COPY_CONFIG')).toMatchObject({ retention: 1, uriStyle: 'host' });
  });

  test('a setting missing or of the wrong kind is refused for that alone: what its value must be is checked only once all are there', () => {
    expect(() => parseDumpCopyConfig(text({ uriStyle: undefined, retention: 'x' }), 'DUMP_COPY_CONFIG')).toThrow(
      'DUMP_COPY_CONFIG: invalid dump copy configuration: retention is "x": it must be an integer ≥ 0; '
      + 'uriStyle is missing (a non-empty string without whitespace). The document is written by the library at synth');
  });
});
