import {
  annotationOf, decodeRecord, describeRecord, encodeAnnotations, encodeRecordLease, encodeRecordPatch, LeaderRecord, LeaseObject,
  RECORD_FIELDS,
} from '../../src/agent/record';

const P = 'postgres.cdk8s.io';

/** A Lease as the API returns it, with these annotations (field -> value). */
function lease(fields: Record<string, string>, resourceVersion = '42', extra: Record<string, unknown> = {}): LeaseObject {
  const annotations: Record<string, unknown> = { ...extra };
  for (const [field, value] of Object.entries(fields)) annotations[`${P}/${field}`] = value;
  return { metadata: { resourceVersion, annotations }, spec: { holderIdentity: fields.primary ?? '' } };
}

const STABLE = { 'state': 'stable', 'primary': 'pg-0', 'epoch': '3', 'timeline': '2', 'system-identifier': '7412345678901234567', 'sync': 'pg-1,pg-2' };

const records: Array<[string, LeaderRecord]> = [
  ['stable, synchronous', {
    version: 1, state: 'stable', primary: 'pg-0', epoch: 3, timeline: 2, systemIdentifier: '7412345678901234567', sync: ['pg-1', 'pg-2'],
  }],
  ['stable, asynchronous, no system identifier', {
    version: 1, state: 'stable', primary: 'pg-1', epoch: 1, timeline: 1, systemIdentifier: undefined, sync: [],
  }],
  ['switching-over, before the checkpoint', {
    version: 1,
    state: 'switching-over',
    epoch: 4,
    timeline: 2,
    systemIdentifier: '1',
    sync: ['pg-1'],
    previous: 'pg-0',
    target: 'pg-1',
    job: 'switchover-1-abcde',
    checkpoint: undefined,
  }],
  ['switching-over, with the shutdown checkpoint', {
    version: 1,
    state: 'switching-over',
    epoch: 4,
    timeline: 2,
    systemIdentifier: '1',
    sync: [],
    previous: 'pg-0',
    target: 'pg-1',
    job: 'switchover-1-abcde',
    checkpoint: '0/3000028',
  }],
  ['failing-over, no target yet', {
    version: 1,
    state: 'failing-over',
    epoch: 5,
    timeline: 3,
    systemIdentifier: '1',
    sync: [],
    previous: 'pg-1',
    target: undefined,
    job: 'failover-1-xyz',
  }],
  ['failing-over, target chosen', {
    version: 1,
    state: 'failing-over',
    epoch: 5,
    timeline: 3,
    systemIdentifier: '1',
    sync: ['pg-0', 'pg-2'],
    previous: 'pg-1',
    target: 'pg-2',
    job: 'failover-1-xyz',
  }],
  ['switching-over, a checkpoint past 4 GB of WAL', {
    version: 1, state: 'switching-over', epoch: 4, timeline: 2, systemIdentifier: '1', sync: [], previous: 'pg-0', target: 'pg-1', job: 's', checkpoint: '16/B374D848',
  }],
];

describe('the leader record: decoding and encoding', () => {
  test.each(records)('%s round-trips through the merge patch', (_name, record) => {
    const patch = encodeRecordPatch(record, '17');
    expect(patch.metadata.resourceVersion).toBe('17');
    const decoded = decodeRecord({ metadata: { resourceVersion: '18', annotations: patch.metadata.annotations }, spec: patch.spec });
    expect(decoded).toEqual({ ok: true, record, resourceVersion: '18' });
  });

  test.each(records)('%s round-trips through the created Lease', (_name, record) => {
    const created = encodeRecordLease('pg-leader', { app: 'pg' }, record);
    expect(decodeRecord({ metadata: { ...created.metadata, resourceVersion: '1' } })).toEqual({ ok: true, record, resourceVersion: '1' });
  });

  test('the patch carries the resourceVersion, then every field in RECORD_FIELDS order, then holderIdentity (as record_update sent it)', () => {
    const [, record] = records[0];
    expect(JSON.stringify(encodeRecordPatch(record, '42'))).toBe(
      '{"metadata":{"resourceVersion":"42","annotations":{'
      + `"${P}/state":"stable","${P}/primary":"pg-0","${P}/epoch":"3","${P}/timeline":"2",`
      + `"${P}/system-identifier":"7412345678901234567","${P}/sync":"pg-1,pg-2","${P}/target":"","${P}/previous":"",`
      + `"${P}/job":"","${P}/checkpoint":"","${P}/version":"1"}},"spec":{"holderIdentity":"pg-0"}}`);
  });

  test('while switching or failing over, holderIdentity and primary are empty and the job fields are written', () => {
    const patch = encodeRecordPatch(records[3][1], '9');
    expect(patch.spec.holderIdentity).toBe('');
    expect(patch.metadata.annotations).toMatchObject({
      [`${P}/primary`]: '', [`${P}/target`]: 'pg-1', [`${P}/previous`]: 'pg-0', [`${P}/job`]: 'switchover-1-abcde', [`${P}/checkpoint`]: '0/3000028',
    });
    expect(encodeAnnotations(records[5][1])).toMatchObject({ [`${P}/target`]: 'pg-2', [`${P}/checkpoint`]: '', [`${P}/sync`]: 'pg-0,pg-2' });
    expect(encodeAnnotations(records[4][1])[`${P}/target`]).toBe('');
  });

  test('the created Lease is as record_create made it: kind, name, labels, annotations, holderIdentity', () => {
    expect(encodeRecordLease('pg-leader', { app: 'pg' }, records[0][1])).toEqual({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'pg-leader', labels: { app: 'pg' }, annotations: encodeAnnotations(records[0][1]) },
      spec: { holderIdentity: 'pg-0' },
    });
  });

  test('fails when a patch is asked for without the resourceVersion it replaces', () => {
    expect(() => encodeRecordPatch(records[0][1], '')).toThrow('a record patch needs the resourceVersion it replaces (compare-and-swap)');
  });

  test('a record written by leader-record.sh (no version field; absent fields for empty ones) is version 1', () => {
    expect(decodeRecord(lease(STABLE))).toEqual({ ok: true, record: records[0][1], resourceVersion: '42' });
    expect(decodeRecord(lease({ ...STABLE, target: '', previous: '', job: '', checkpoint: '', version: '1' }))).toEqual(
      { ok: true, record: records[0][1], resourceVersion: '42' });
  });

  test('other annotations (not the record\'s prefix) and holderIdentity are ignored: the annotations are the record', () => {
    const decoded = decodeRecord({
      ...lease(STABLE, '42', { 'kubectl.kubernetes.io/last-applied-configuration': '{}', 'postgres.cdk8s.io.other/x': 1 }),
      spec: { holderIdentity: 'someone-else' },
    });
    expect(decoded).toEqual({ ok: true, record: records[0][1], resourceVersion: '42' });
  });

  const malformed: Array<[string, LeaseObject, string]> = [
    ['the epoch is missing', lease({ ...STABLE, epoch: '' }), `${P}/epoch is missing`],
    ['the epoch annotation is absent', lease((({ epoch: _e, ...rest }) => rest)(STABLE)), `${P}/epoch is missing`],
    ['the epoch is not a number', lease({ ...STABLE, epoch: 'three' }), `${P}/epoch is not a positive integer: "three"`],
    ['the epoch is 0', lease({ ...STABLE, epoch: '0' }), `${P}/epoch is not a positive integer: "0"`],
    ['the epoch is negative', lease({ ...STABLE, epoch: '-1' }), `${P}/epoch is not a positive integer: "-1"`],
    ['the epoch has a fraction', lease({ ...STABLE, epoch: '1.5' }), `${P}/epoch is not a positive integer: "1.5"`],
    ['the epoch has a sign', lease({ ...STABLE, epoch: '+2' }), `${P}/epoch is not a positive integer: "+2"`],
    ['the epoch has spaces', lease({ ...STABLE, epoch: ' 2' }), `${P}/epoch is not a positive integer: " 2"`],
    ['the epoch is past 2^53', lease({ ...STABLE, epoch: '9007199254740993' }), `${P}/epoch is not a positive integer: "9007199254740993"`],
    ['the timeline is missing', lease({ ...STABLE, timeline: '' }), `${P}/timeline is missing`],
    ['the timeline is hexadecimal', lease({ ...STABLE, timeline: '0x2' }), `${P}/timeline is not a positive integer: "0x2"`],
    ['the state is missing', lease({ ...STABLE, state: '' }), `${P}/state is missing`],
    ['the state is unknown', lease({ ...STABLE, state: 'primary' }), `${P}/state is unknown: "primary" (known: stable, switching-over, failing-over)`],
    ['the version is unknown', lease({ ...STABLE, version: '2' }), `${P}/version is unknown: "2" (this agent reads version 1)`],
    ['the version is not a number', lease({ ...STABLE, version: 'v1' }), `${P}/version is unknown: "v1" (this agent reads version 1)`],
    ['a stable record names no primary', lease({ ...STABLE, primary: '' }), `${P}/primary is missing (state stable needs it)`],
    ['a stable record keeps a target', lease({ ...STABLE, target: 'pg-1' }), `${P}/target must be empty in state stable, got "pg-1"`],
    ['a stable record keeps a previous', lease({ ...STABLE, previous: 'pg-1' }), `${P}/previous must be empty in state stable, got "pg-1"`],
    ['a stable record keeps a job', lease({ ...STABLE, job: 'j' }), `${P}/job must be empty in state stable, got "j"`],
    ['a stable record keeps a checkpoint', lease({ ...STABLE, checkpoint: '0/1' }), `${P}/checkpoint must be empty in state stable, got "0/1"`],
    ['a switchover names a primary', lease({ ...STABLE, state: 'switching-over', previous: 'pg-0', target: 'pg-1', job: 'j' }),
      `${P}/primary must be empty in state switching-over, got "pg-0"`],
    ['a switchover has no previous', lease({ ...STABLE, state: 'switching-over', primary: '', target: 'pg-1', job: 'j' }),
      `${P}/previous is missing (state switching-over needs it)`],
    ['a switchover has no target', lease({ ...STABLE, state: 'switching-over', primary: '', previous: 'pg-0', job: 'j' }),
      `${P}/target is missing (state switching-over needs it)`],
    ['a switchover has no job', lease({ ...STABLE, state: 'switching-over', primary: '', previous: 'pg-0', target: 'pg-1' }),
      `${P}/job is missing (state switching-over needs it)`],
    ['a switchover\'s checkpoint is not an LSN', lease({ ...STABLE, state: 'switching-over', primary: '', previous: 'pg-0', target: 'pg-1', job: 'j', checkpoint: '0/30000g8' }),
      `${P}/checkpoint is not an LSN such as 0/3000028: "0/30000g8"`],
    ['a switchover\'s checkpoint is lower-case', lease({ ...STABLE, state: 'switching-over', primary: '', previous: 'pg-0', target: 'pg-1', job: 'j', checkpoint: '0/3000a28' }),
      `${P}/checkpoint is not an LSN such as 0/3000028: "0/3000a28"`],
    ['a switchover\'s checkpoint has leading text', lease({ ...STABLE, state: 'switching-over', primary: '', previous: 'pg-0', target: 'pg-1', job: 'j', checkpoint: 'x0/3000028' }),
      `${P}/checkpoint is not an LSN such as 0/3000028: "x0/3000028"`],
    ['a switchover\'s checkpoint has trailing text', lease({ ...STABLE, state: 'switching-over', primary: '', previous: 'pg-0', target: 'pg-1', job: 'j', checkpoint: 'x0/3000028 ' }),
      `${P}/checkpoint is not an LSN such as 0/3000028: "x0/3000028 "`],
    ['a failover names a primary', lease({ ...STABLE, state: 'failing-over', previous: 'pg-0', job: 'j' }),
      `${P}/primary must be empty in state failing-over, got "pg-0"`],
    ['a failover has a checkpoint', lease({ ...STABLE, state: 'failing-over', primary: '', previous: 'pg-0', job: 'j', checkpoint: '0/1' }),
      `${P}/checkpoint must be empty in state failing-over, got "0/1"`],
    ['a failover has no previous', lease({ ...STABLE, state: 'failing-over', primary: '', job: 'j' }),
      `${P}/previous is missing (state failing-over needs it)`],
    ['a failover has no job', lease({ ...STABLE, state: 'failing-over', primary: '', previous: 'pg-0' }),
      `${P}/job is missing (state failing-over needs it)`],
    ['the system identifier is not a number', lease({ ...STABLE, 'system-identifier': '74x' }), `${P}/system-identifier is not a decimal number: "74x"`],
    ['the system identifier has a newline', lease({ ...STABLE, 'system-identifier': '74\n' }), `${P}/system-identifier is not a decimal number: "74\n"`],
    ['the synchronous set has an empty member', lease({ ...STABLE, sync: 'pg-1,,pg-2' }), `${P}/sync has an empty member: "pg-1,,pg-2"`],
    ['the synchronous set lists a pod twice', lease({ ...STABLE, sync: 'pg-1,pg-1' }), `${P}/sync lists pg-1 twice: "pg-1,pg-1"`],
    ['a field is unknown', lease({ ...STABLE, leader: 'pg-0' }), `${P}/leader is not a field of the record`],
    ['a field is not a string', lease((({ epoch: _e, ...rest }) => rest)(STABLE), '42', { [`${P}/epoch`]: 3 }), `${P}/epoch is not a string`],
    ['there is no resourceVersion', lease(STABLE, ''), 'metadata.resourceVersion is missing: a record without one cannot be compared-and-swapped'],
    ['the resourceVersion is a number', { metadata: { resourceVersion: 42, annotations: {} } }, 'metadata.resourceVersion is missing: a record without one cannot be compared-and-swapped'],
    ['there is no metadata', {}, 'metadata.resourceVersion is missing: a record without one cannot be compared-and-swapped'],
    ['the annotations are a list', { metadata: { resourceVersion: '1', annotations: [] } }, 'metadata.annotations is not an object'],
    ['the annotations are a string', { metadata: { resourceVersion: '1', annotations: 'x' } }, 'metadata.annotations is not an object'],
    ['there are no annotations', { metadata: { resourceVersion: '1' } }, `${P}/epoch is missing`],
  ];
  test.each(malformed)('refuses a record when %s, naming the field', (_name, input, message) => {
    expect(decodeRecord(input)).toEqual({ ok: false, error: `malformed leader record: ${message}` });
  });

  test('a programming error while decoding is thrown, not disguised as a malformed record', () => {
    const exploding = new Proxy({}, { ownKeys: () => { throw new Error('boom'); } });
    expect(() => decodeRecord({ metadata: { resourceVersion: '1', annotations: exploding } })).toThrow('boom');
  });

  test('refuses annotations that are null', () => {
    expect(decodeRecord({ metadata: { resourceVersion: '1', annotations: null } })).toEqual({ ok: false, error: 'malformed leader record: metadata.annotations is not an object' });
  });

  test('the encoder writes only the fields of the record\'s state, whatever else the object carries', () => {
    const stray = { target: 'pg-9', previous: 'pg-8', job: 'j', checkpoint: '0/1' };
    const annotations = encodeAnnotations({ ...records[0][1], ...stray } as unknown as LeaderRecord);
    expect([annotations[`${P}/target`], annotations[`${P}/previous`], annotations[`${P}/job`], annotations[`${P}/checkpoint`]]).toEqual(['', '', '', '']);
    expect(encodeAnnotations({ ...records[5][1], checkpoint: '0/1', primary: 'pg-9' } as unknown as LeaderRecord)[`${P}/checkpoint`]).toBe('');
    expect(describeRecord({ ...records[5][1], checkpoint: '0/1' } as unknown as LeaderRecord)).not.toContain('checkpoint');
  });

  test('fails loudly (no silent guess) when the input is not an object at all', () => {
    expect(decodeRecord(null as unknown as LeaseObject)).toEqual({
      ok: false, error: 'malformed leader record: metadata.resourceVersion is missing: a record without one cannot be compared-and-swapped',
    });
  });

  test('the annotation of each field is postgres.cdk8s.io/<field>, in leader-record.sh\'s order', () => {
    expect(RECORD_FIELDS.map(annotationOf)).toEqual(
      ['state', 'primary', 'epoch', 'timeline', 'system-identifier', 'sync', 'target', 'previous', 'job', 'checkpoint'].map(f => `${P}/${f}`));
  });

  test.each([
    [undefined, 'no leader record'],
    [records[0][1], 'epoch 3, stable, primary pg-0, timeline 2, synchronous standbys pg-1,pg-2'],
    [records[1][1], 'epoch 1, stable, primary pg-1, timeline 1'],
    [records[2][1], 'epoch 4, switching-over, primary (none), timeline 2, synchronous standbys pg-1 (job switchover-1-abcde: pg-0 -> pg-1)'],
    [records[3][1], 'epoch 4, switching-over, primary (none), timeline 2 (job switchover-1-abcde: pg-0 -> pg-1), shutdown checkpoint 0/3000028'],
    [records[4][1], 'epoch 5, failing-over, primary (none), timeline 3 (job failover-1-xyz: pg-1 -> ?)'],
    [records[5][1], 'epoch 5, failing-over, primary (none), timeline 3, synchronous standbys pg-0,pg-2 (job failover-1-xyz: pg-1 -> pg-2)'],
  ])('describes %j in one line, as the job and the sidecar log it', (record, line) => {
    expect(describeRecord(record)).toBe(line);
  });
});
