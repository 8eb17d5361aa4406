import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { mosquittoAcl, mosquittoConf } from '../../cloud/mqtt/mosquitto-config.js';
import { describeBrokerContract } from './broker-contract.js';
import { CREDS, sleep, tempDir } from './mqtt-test-kit.js';

const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p));
const PASSWD = ['/usr/bin/mosquitto_passwd', '/usr/sbin/mosquitto_passwd'].find((p) => existsSync(p));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

async function waitListening(port: number, proc: ChildProcess, log: () => string): Promise<void> {
  const until = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`mosquitto exited (${proc.exitCode}): ${log()}`);
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`mosquitto did not listen on ${port}: ${log()}`);
    await sleep(50);
  }
}

/**
 * The same flow against a real Mosquitto (the Debian package): password file made with
 * `mosquitto_passwd`, ACL from `mosquittoAcl`, no anonymous access. Not skippable: the
 * deployment table names Mosquitto, so CI must prove Cubby works with it.
 */
describeBrokerContract('Mosquitto', async () => {
  if (!MOSQUITTO || !PASSWD) {
    throw new Error(
      'Mosquitto is not installed, and this test needs it. Install it with `sudo apt-get install -y mosquitto` ' +
        '(Debian/Ubuntu; .ci/run does this), then run the tests again.',
    );
  }
  const tmp = tempDir('cubby-mosquitto-');
  const pw = join(tmp.dir, 'passwd');
  const acl = join(tmp.dir, 'acl');
  const conf = join(tmp.dir, 'mosquitto.conf');
  const users: [string, string][] = [[CREDS.cloud.username, CREDS.cloud.secret], ...Object.entries(CREDS.banks)];
  users.forEach(([u, p], i) => execFileSync(PASSWD, [...(i === 0 ? ['-c'] : []), '-b', pw, u, p], { stdio: 'pipe' }));
  writeFileSync(acl, mosquittoAcl(CREDS.cloud.username));
  const port = await freePort();
  // Run as ourselves: a root-started Mosquitto would otherwise switch to user `mosquitto`,
  // which cannot read our private temp directory.
  writeFileSync(conf, mosquittoConf({ port, passwordFile: pw, aclFile: acl, runAs: userInfo().username }));

  let out = '';
  const proc = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  await waitListening(port, proc, () => out);

  return {
    url: `mqtt://127.0.0.1:${port}`,
    close: async () => {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      tmp.cleanup();
    },
  };
});
