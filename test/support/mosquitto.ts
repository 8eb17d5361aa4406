/**
 * A real Mosquitto (the Debian package) for tests and benchmarks: password file made with
 * `mosquitto_passwd`, ACL from `mosquittoAcl` (cloud/mqtt/mosquitto-config.ts), no anonymous
 * access, on a free 127.0.0.1 port. Not skippable: `.ci/run` installs the package.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { mosquittoAcl, mosquittoConf } from '../../cloud/mqtt/mosquitto-config.js';
import { freePort } from './free-port.js';

const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p));
const PASSWD = ['/usr/bin/mosquitto_passwd', '/usr/sbin/mosquitto_passwd'].find((p) => existsSync(p));

export interface RunningMosquitto {
  url: string;
  close(): Promise<void>;
}

/**
 * Start Mosquitto with `cloud` as the cloud's service account and `banks` (bankId -> device
 * secret) as bank accounts restricted to their own subtree.
 */
export async function startMosquitto(cloud: { username: string; secret: string }, banks: Record<string, string>): Promise<RunningMosquitto> {
  if (!MOSQUITTO || !PASSWD) {
    throw new Error('Mosquitto is not installed, and this test needs it. Install it with `sudo apt-get install -y mosquitto` (Debian/Ubuntu; .ci/run does this), then run the tests again.');
  }
  const dir = mkdtempSync(join(tmpdir(), 'cubby-mosquitto-'));
  const pw = join(dir, 'passwd');
  const acl = join(dir, 'acl');
  const conf = join(dir, 'mosquitto.conf');
  // One call per user would spawn a process each (50 banks: slow); the -U form hashes a plain file in one go.
  writeFileSync(pw, [[cloud.username, cloud.secret], ...Object.entries(banks)].map(([u, p]) => `${u}:${p}`).join('\n') + '\n');
  execFileSync(PASSWD, ['-U', pw], { stdio: 'pipe' });
  writeFileSync(acl, mosquittoAcl(cloud.username));
  const port = await freePort();
  // Run as ourselves: a root-started Mosquitto would otherwise switch to user `mosquitto`,
  // which cannot read our private temp directory.
  writeFileSync(conf, mosquittoConf({ port, passwordFile: pw, aclFile: acl, runAs: userInfo().username }));
  let out = '';
  const proc = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const until = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`mosquitto exited (${proc.exitCode}): ${out}`);
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) break;
    if (Date.now() > until) throw new Error(`mosquitto did not listen on ${port}: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    close: async () => {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
