// The status line the failover job reads from a pod's sidecar: pg-node.sh's `status` format, for every state of the
// data directory and the server.
import { NodeStatusFacts, statusLine } from '../../src/agent/node-status';

const control = (state: number) => ({ state, timeline: 3, checkpoint: '0/5000060' });
const primary = { role: 'primary' as const, lsn: '0/5000148', receiver: 'none', timeline: 3 };
const replica = { role: 'replica' as const, lsn: '0/5000100', receiver: 'streaming', timeline: 3 };

describe('the status line of a pod', () => {
  test.each<[string, NodeStatusFacts, boolean, string | undefined]>([
    ['no data directory yet', { initialized: false, answer: undefined, running: false, control: undefined }, true, 'empty 0/0 none 0 0/0'],
    ['no data directory, even when something answers', { initialized: false, answer: primary, running: true, control: control(6) }, false, 'empty 0/0 none 0 0/0'],
    ['a primary that answers, without its checkpoint', { initialized: true, answer: primary, running: true, control: undefined }, false, 'primary 0/5000148 none 3 -'],
    ['a replica that answers, without its checkpoint', { initialized: true, answer: replica, running: true, control: control(5) }, false, 'replica 0/5000100 streaming 3 -'],
    ['a primary that answers, with its checkpoint (full)', { initialized: true, answer: primary, running: true, control: control(6) }, true, 'primary 0/5000148 none 3 0/5000060'],
    ['a stopped server: its last checkpoint (after a fast shutdown, the shutdown checkpoint)', { initialized: true, answer: undefined, running: false, control: control(1) }, true, 'down 0/0 none 3 0/5000060'],
    ['a stopped server, not full', { initialized: true, answer: undefined, running: false, control: control(2) }, false, 'down 0/0 none 3 0/5000060'],
    ['a running primary that does not answer', { initialized: true, answer: undefined, running: true, control: control(6) }, true, 'primary ? none 3 0/5000060'],
    ['a running replica that does not answer', { initialized: true, answer: undefined, running: true, control: control(5) }, false, 'replica ? none 3 0/5000060'],
    ['a server in crash recovery', { initialized: true, answer: undefined, running: true, control: control(4) }, true, 'starting ? none 3 0/5000060'],
    ['a server shutting down', { initialized: true, answer: undefined, running: true, control: control(3) }, true, 'starting ? none 3 0/5000060'],
    ['pg_control unreadable: no line (the job falls back to what the kubelet says)', { initialized: true, answer: undefined, running: true, control: undefined }, true, undefined],
  ])('%s', (_name, facts, full, line) => {
    expect(statusLine(facts, full)).toBe(line);
  });
});
