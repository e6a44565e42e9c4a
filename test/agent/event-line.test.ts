// The line the entrypoint (no API token) leaves for the sidecar to post as an Event about the pod.
import { parseEventLine } from '../../src/agent/sidecar-agent';

describe('an Event line from the entrypoint', () => {
  test.each<[string, string, ReturnType<typeof parseEventLine>]>([
    ['a warning with its message', 'Warning UnrecordedPromotion this pod was promoted outside the leader record',
      { type: 'Warning', reason: 'UnrecordedPromotion', message: 'this pod was promoted outside the leader record' }],
    ['a normal event', 'Normal Rejoined streaming from pg-0', { type: 'Normal', reason: 'Rejoined', message: 'streaming from pg-0' }],
    ['a message over several lines, kept whole', 'Warning Diverged first\nsecond', { type: 'Warning', reason: 'Diverged', message: 'first\nsecond' }],
    ['a type Kubernetes does not know', 'Error Broken it broke', undefined],
    ['a type that is only the end of a word', 'NotNormal Rejoined streaming from pg-0', undefined],
    ['a reason that is not CamelCase', 'Warning unrecorded it broke', undefined],
    ['no message', 'Warning UnrecordedPromotion ', undefined],
    ['no reason', 'Warning', undefined],
    ['an empty file', '', undefined],
  ])('%s', (_name, line, parsed) => {
    expect(parseEventLine(line)).toEqual(parsed);
  });
});
