// deploy/first-boot checked by the real tools: systemd-analyze verify (units + drop-in),
// cloud-init schema (user-data), shellcheck (enroll.sh, the wrapper, the VM test's guest script),
// the rendered cloud-init / Butane / Ignition forms current and byte-equal to their sources, and
// the wrapper's exit-code handling (retry on 4 with backoff, stop on refusals, skip when enrolled).
// Each tool's test is skipped, with the reason, where the tool is missing.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const DEPLOY = join(ROOT, 'deploy/first-boot');
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const work = mkdtempSync(join(tmpdir(), 'k3s-enroll-first-boot-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function skipNote(tool: string, pkg: string) {
  if (!has(tool)) console.log(`skipped: ${tool} not installed (Debian: apt-get install ${pkg})`);
  return !has(tool);
}

describe.skipIf(skipNote('systemd-analyze', 'systemd'))('systemd-analyze verify', () => {
  // verify checks that ExecStart's program exists: point the unit at a copy of the wrapper in a
  // temp dir (the only change), next to a stand-in k3s-agent.service that the drop-in extends.
  function stage(unitText: string) {
    const dir = mkdtempSync(join(work, 'units-'));
    mkdirSync(join(dir, 'opt'), { recursive: true });
    cpSync(join(DEPLOY, 'first-boot.sh'), join(dir, 'opt/first-boot.sh'));
    writeFileSync(join(dir, 'k3s-enroll.service'), unitText.replaceAll('/opt/k3s-enroll/', `${dir}/opt/`));
    mkdirSync(join(dir, 'k3s-agent.service.d'));
    cpSync(join(DEPLOY, 'k3s-agent.service.d/10-k3s-enroll.conf'), join(dir, 'k3s-agent.service.d/10-k3s-enroll.conf'));
    writeFileSync(join(dir, 'k3s-agent.service'), '[Unit]\nDescription=k3s agent (stand-in)\n[Service]\nType=exec\nExecStart=/bin/sh -c "exit 0"\n');
    return spawnSync('systemd-analyze', ['verify', '--man=no', join(dir, 'k3s-enroll.service'), join(dir, 'k3s-agent.service')], { encoding: 'utf8' });
  }
  it('k3s-enroll.service and the k3s-agent drop-in verify with no warning at all', () => {
    const r = stage(readFileSync(join(DEPLOY, 'k3s-enroll.service'), 'utf8'));
    expect(r.stderr + r.stdout).toBe('');
    expect(r.status).toBe(0);
  });
  it('a unit with a typo is reported (the check is not vacuous)', () => {
    const r = stage(readFileSync(join(DEPLOY, 'k3s-enroll.service'), 'utf8').replace('ProtectSystem=strict', 'ProtectSystem=strict\nProtectSytem=yes'));
    expect(r.stderr).toMatch(/Unknown key 'ProtectSytem'/);
  });
  it('the unit is hardened as the issue asks: strict FS, private tmp, no new privileges, TPM-only devices', () => {
    const unit = readFileSync(join(DEPLOY, 'k3s-enroll.service'), 'utf8');
    for (const line of ['Type=oneshot', 'After=network-online.target time-sync.target', 'Wants=network-online.target', 'Before=k3s-agent.service', 'EnvironmentFile=/etc/k3s-enroll.env', 'ExecCondition=/opt/k3s-enroll/first-boot.sh --check', 'ProtectSystem=strict', 'ConfigurationDirectory=rancher/k3s', 'PrivateTmp=yes', 'NoNewPrivileges=yes', 'DevicePolicy=closed', 'DeviceAllow=/dev/tpmrm0 rw', 'CapabilityBoundingSet=CAP_DAC_OVERRIDE']) {
      expect(unit.split('\n')).toContain(line);
    }
    const dropin = readFileSync(join(DEPLOY, 'k3s-agent.service.d/10-k3s-enroll.conf'), 'utf8').split('\n');
    expect(dropin).toContain('Requires=k3s-enroll.service');
    expect(dropin).toContain('After=k3s-enroll.service');
  });
});

describe.skipIf(skipNote('cloud-init', 'cloud-init'))('cloud-init schema', () => {
  it('deploy/first-boot/cloud-init.yaml is valid #cloud-config', () => {
    const r = spawnSync('cloud-init', ['schema', '--config-file', join(DEPLOY, 'cloud-init.yaml')], { encoding: 'utf8' });
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/Valid cloud-config/);
  });
  it('an invalid one is refused (the check is not vacuous)', () => {
    const bad = join(work, 'bad-cloud-config.yaml');
    writeFileSync(bad, readFileSync(join(DEPLOY, 'cloud-init.yaml'), 'utf8').replace("permissions: '0755'", 'permissions: [0755]'));
    const r = spawnSync('cloud-init', ['schema', '--config-file', bad], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
  });
  it('its write_files are byte-equal to the sources (enroll.sh, wrapper, unit, drop-in) and runcmd enables the unit', () => {
    // cloud-init ships python3-yaml: parse it as cloud-init will.
    const out = execFileSync('python3', ['-c', 'import sys,yaml,json; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', join(DEPLOY, 'cloud-init.yaml')], { encoding: 'utf8' });
    const cfg = JSON.parse(out) as { write_files: { path: string; permissions: string; content: string }[]; runcmd: string[][] };
    const byPath = Object.fromEntries(cfg.write_files.map((f) => [f.path, f]));
    expect(byPath['/opt/k3s-enroll/enroll.sh']!.content).toBe(readFileSync(join(ROOT, 'scripts/enroll.sh'), 'utf8'));
    expect(byPath['/opt/k3s-enroll/enroll.sh']!.permissions).toBe('0755');
    expect(byPath['/opt/k3s-enroll/first-boot.sh']!.content).toBe(readFileSync(join(DEPLOY, 'first-boot.sh'), 'utf8'));
    expect(byPath['/etc/systemd/system/k3s-enroll.service']!.content).toBe(readFileSync(join(DEPLOY, 'k3s-enroll.service'), 'utf8'));
    expect(byPath['/etc/systemd/system/k3s-agent.service.d/10-k3s-enroll.conf']!.content).toBe(readFileSync(join(DEPLOY, 'k3s-agent.service.d/10-k3s-enroll.conf'), 'utf8'));
    expect(byPath['/etc/k3s-enroll.env']!.permissions).toBe('0600');
    expect(cfg.runcmd).toContainEqual(['systemctl', 'enable', 'k3s-enroll.service']);
  });
});

describe('rendered forms', () => {
  it('cloud-init.yaml, k3s-enroll.bu and k3s-enroll.ign are current (node deploy/first-boot/render.mjs --check)', () => {
    const r = spawnSync(process.execPath, [join(DEPLOY, 'render.mjs'), '--check'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });
  it('the Ignition config carries the same files, the enabled unit and the drop-in', () => {
    const ign = JSON.parse(readFileSync(join(DEPLOY, 'k3s-enroll.ign'), 'utf8')) as { ignition: { version: string }; storage: { files: { path: string; mode: number; contents: { source: string } }[] }; systemd: { units: { name: string; enabled?: boolean; contents?: string; dropins?: { name: string; contents: string }[] }[] } };
    expect(ign.ignition.version).toBe('3.4.0');
    const file = (p: string) => ign.storage.files.find((f) => f.path === p)!;
    expect(decodeURIComponent(file('/opt/k3s-enroll/enroll.sh').contents.source.replace(/^data:,/, ''))).toBe(readFileSync(join(ROOT, 'scripts/enroll.sh'), 'utf8'));
    expect(file('/opt/k3s-enroll/first-boot.sh').mode).toBe(0o755);
    expect(file('/etc/k3s-enroll.env').mode).toBe(0o600);
    const unit = ign.systemd.units.find((u) => u.name === 'k3s-enroll.service')!;
    expect(unit.enabled).toBe(true);
    expect(unit.contents).toBe(readFileSync(join(DEPLOY, 'k3s-enroll.service'), 'utf8'));
    expect(ign.systemd.units.find((u) => u.name === 'k3s-agent.service')!.dropins![0]!.name).toBe('10-k3s-enroll.conf');
  });
});

describe.skipIf(skipNote('shellcheck', 'shellcheck'))('shellcheck', () => {
  for (const file of ['scripts/enroll.sh', 'deploy/first-boot/first-boot.sh', 'test/vm/guest/report.sh']) {
    it(`${file} passes shellcheck (POSIX sh)`, () => {
      const r = spawnSync('shellcheck', ['--shell=sh', '--severity=warning', join(ROOT, file)], { encoding: 'utf8' });
      expect(r.stdout + r.stderr).toBe('');
      expect(r.status).toBe(0);
    });
  }
});

describe('first-boot.sh exit codes (against a stand-in enroll.sh)', () => {
  // The stand-in exits with the codes listed in $CODES, one per run, and counts its runs.
  function wrapper(codes: number[], extraEnv: Record<string, string> = {}) {
    const dir = mkdtempSync(join(work, 'wrap-'));
    const fake = join(dir, 'enroll.sh');
    writeFileSync(fake, `#!/bin/sh\nn=$(cat "${dir}/runs" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > "${dir}/runs"\nset -- ${codes.join(' ')}\nshift $((n - 1)); echo "enroll: stand-in run $n (method $1... )" >&2; exit "$1"\n`);
    chmodSync(fake, 0o755);
    const r = spawnSync('sh', [join(DEPLOY, 'first-boot.sh')], { encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH, ENROLL_SH: fake, METHOD: 'code', MACHINE_ID: 'edge-1', ENROLL_URL: 'https://enroll.example.test', K3S_CONFIG: join(dir, 'config.yaml'), ENROLL_RETRY_MIN_SECONDS: '1', ENROLL_RETRY_MAX_SECONDS: '2', ...extraEnv } });
    return { status: r.status, out: r.stdout, runs: Number(readFileSync(join(dir, 'runs'), 'utf8')) };
  }
  it('retries while the service is unavailable (exit 4), with growing waits, then succeeds', () => {
    const r = wrapper([4, 4, 4, 0]);
    expect(r.status).toBe(0);
    expect(r.runs).toBe(4);
    const waits = [...r.out.matchAll(/service unavailable \(exit 4\); retrying in (\d+) s/g)].map((m) => Number(m[1]));
    expect(waits).toEqual([1, 2, 2]);
    expect(r.out).toMatch(/k3s-enroll: enrolled edge-1 via code/);
  }, 30_000);
  for (const code of [2, 3, 5, 6, 7, 8]) {
    it(`stops at once on exit ${code} with that code`, () => {
      const r = wrapper([code, 0]);
      expect(r.status).toBe(code);
      expect(r.runs).toBe(1);
      expect(r.out).toMatch(new RegExp(`enrollment failed \\(exit ${code}\\), not retrying`));
    });
  }
  it('--check skips (exit 1) when the config holds a token, runs (exit 0) when not', () => {
    const dir = mkdtempSync(join(work, 'check-'));
    const config = join(dir, 'config.yaml');
    const check = () => spawnSync('sh', [join(DEPLOY, 'first-boot.sh'), '--check'], { encoding: 'utf8', env: { PATH: process.env.PATH, K3S_CONFIG: config } });
    expect(check().status).toBe(0);
    writeFileSync(config, 'node-label:\n  - site=a\n');
    expect(check().status).toBe(0);
    writeFileSync(config, 'server: "https://k3s:6443"\ntoken: "K10abc::id.secret"\n');
    const r = check();
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/already holds a token; not enrolling again/);
    expect(statSync(config).size).toBeGreaterThan(0);
  });
});
