// A real (emulated) TPM for tests: swtpm with an EK certificate chain from swtpm-localca, run
// exactly as ../shared/TOOLCHAIN.md §7 does, on free loopback ports, stopped by stop().
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const hasTpmTools = ['swtpm', 'swtpm_setup', 'tpm2_createek', 'tpm2_makecredential', 'tpm2_activatecredential'].every((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0);

const freePort = () => new Promise<number>((r) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => r(p));
  });
});

export interface Swtpm {
  readonly dir: string;
  readonly tcti: string;
  /** Root and intermediate of the EK certificate chain (PEM). */
  readonly caPem: string;
  run(cmd: string, args: string[], opts?: { cwd?: string; env?: NodeJS.ProcessEnv }): string;
  stop(): void;
}

export async function startSwtpm(dir: string): Promise<Swtpm> {
  // The swtpm TCTI talks to the control channel on port + 1.
  const portFree = (p: number) => new Promise<boolean>((r) => {
    const s = createServer().once('error', () => r(false)).listen(p, '127.0.0.1', () => s.close(() => r(true)));
  });
  let port = await freePort();
  while (port >= 65535 || !(await portFree(port + 1))) port = await freePort();
  const cport = port + 1;
  for (const d of ['state', 'localca']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'swtpm-localca.conf'), `statedir = ${dir}/localca\nsigningkey = ${dir}/localca/signkey.pem\nissuercert = ${dir}/localca/issuercert.pem\ncertserial = ${dir}/localca/certserial\n`);
  writeFileSync(join(dir, 'swtpm-localca.options'), '--platform-manufacturer Test\n--platform-version 2.1\n--platform-model TestEdge\n');
  writeFileSync(join(dir, 'swtpm_setup.conf'), `create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = ${dir}/swtpm-localca.conf\ncreate_certs_tool_options = ${dir}/swtpm-localca.options\nactive_pcr_banks = sha256\n`);
  execFileSync('swtpm_setup', ['--tpm2', '--tpmstate', join(dir, 'state'), '--createek', '--create-ek-cert', '--create-platform-cert', '--config', join(dir, 'swtpm_setup.conf'), '--overwrite'], { stdio: 'pipe' });
  execFileSync('swtpm', ['socket', '--tpm2', '--tpmstate', `dir=${join(dir, 'state')}`, '--server', `type=tcp,port=${port},bindaddr=127.0.0.1`, '--ctrl', `type=tcp,port=${cport},bindaddr=127.0.0.1`, '--flags', 'not-need-init,startup-clear', '--pid', `file=${join(dir, 'swtpm.pid')}`, '--daemon'], { stdio: 'pipe' });
  const tcti = `swtpm:host=127.0.0.1,port=${port}`;
  const caPem = readFileSync(join(dir, 'localca', 'swtpm-localca-rootca-cert.pem'), 'utf8') + readFileSync(join(dir, 'localca', 'issuercert.pem'), 'utf8');
  return {
    dir,
    tcti,
    caPem,
    run(cmd, args, opts = {}) {
      return execFileSync(cmd, args, { cwd: opts.cwd ?? dir, env: { ...process.env, TPM2TOOLS_TCTI: tcti, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    },
    stop() {
      spawnSync('swtpm_ioctl', ['--tcp', `127.0.0.1:${cport}`, '-s']);
    },
  };
}
