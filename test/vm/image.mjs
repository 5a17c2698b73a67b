// The VM test's base image: a minimal Debian 12 (systemd, udev, curl, openssl, ca-certificates,
// tpm2-tools, the kernel) built once with mmdebstrap and cached OUTSIDE the repo under a hash of
// this recipe: $XDG_CACHE_HOME/k3s-enroll/vm/<hash>/{rootfs.img,vmlinuz,initrd.img}. Nothing of
// k3s-enroll is baked in: the test copies the image and injects deploy/first-boot per boot.
// `node test/vm/image.mjs` builds it (if missing) and prints where it is and how long it took.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, copyFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const SUITE = 'bookworm';
const PACKAGES = [
  'systemd', 'systemd-sysv', 'udev', 'kmod', 'iproute2',
  'curl', 'openssl', 'ca-certificates',
  'tpm2-tools', 'libtss2-tcti-device0',
  'linux-image-amd64', 'initramfs-tools',
];
const SIZE = '1200M';
// Runs on the host with "$1" = the image root (mmdebstrap --customize-hook).
const CUSTOMIZE = String.raw`set -eu
r=$1
echo k3s-vm > "$r/etc/hostname"
printf '127.0.0.1 localhost\n' > "$r/etc/hosts"
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' > "$r/etc/fstab"
mkdir -p "$r/etc/systemd/network" "$r/etc/systemd/journald.conf.d" "$r/etc/systemd/system.conf.d"
printf '[Match]\nName=en* eth*\n[Network]\nDHCP=ipv4\n' > "$r/etc/systemd/network/10-dhcp.network"
printf '[Journal]\nStorage=volatile\nForwardToConsole=yes\nTTYPath=/dev/ttyS0\nMaxLevelConsole=info\n' > "$r/etc/systemd/journald.conf.d/console.conf"
printf '[Manager]\nDefaultTimeoutStopSec=10s\n' > "$r/etc/systemd/system.conf.d/vm.conf"
chroot "$r" systemctl enable systemd-networkd.service systemd-networkd-wait-online.service
# Boot fast under TCG: nothing the test does not need (no login, timers, debug mounts, logind, …).
for u in getty@tty1.service serial-getty@ttyS0.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
         e2scrub_reap.service fstrim.timer systemd-timesyncd.service man-db.timer dpkg-db-backup.timer \
         systemd-tmpfiles-clean.timer modprobe@.service dev-hugepages.mount dev-mqueue.mount sys-kernel-debug.mount \
         sys-kernel-tracing.mount sys-fs-fuse-connections.mount sys-kernel-config.mount proc-sys-fs-binfmt_misc.automount \
         systemd-binfmt.service systemd-logind.service systemd-journal-flush.service systemd-sysusers.service \
         systemd-update-utmp.service systemd-update-utmp-runlevel.service systemd-pstore.service systemd-journal-catalog-update.service; do
  chroot "$r" systemctl mask "$u" >/dev/null 2>&1
done
mkdir -p "$r/etc/systemd/system-generators"
for g in systemd-gpt-auto-generator systemd-cryptsetup-generator systemd-hibernate-resume-generator \
         systemd-veritysetup-generator systemd-integritysetup-generator systemd-bless-boot-generator \
         systemd-debug-generator systemd-run-generator systemd-system-update-generator systemd-rc-local-generator; do
  ln -sf /dev/null "$r/etc/systemd/system-generators/$g"
done
# A small initramfs (only what mounts a virtio root) unpacks in seconds instead of tens of them.
printf 'MODULES=list\n' > "$r/etc/initramfs-tools/conf.d/vm"
printf 'virtio_pci\nvirtio_blk\next4\n' >> "$r/etc/initramfs-tools/modules"
chroot "$r" update-initramfs -u -k all
`;

// The cache key: everything that decides the image's contents (bump RECIPE_VERSION for changes
// in how it is assembled below).
const RECIPE_VERSION = 2;
export const recipeHash = createHash('sha256').update(JSON.stringify({ RECIPE_VERSION, SUITE, PACKAGES, SIZE, CUSTOMIZE })).digest('hex').slice(0, 16);
export const cacheRoot = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'k3s-enroll', 'vm');
export const imageDir = join(cacheRoot, recipeHash);

const have = (tool) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
export const missingTools = () => ['qemu-system-x86_64', 'mmdebstrap', 'mkfs.ext4', 'debugfs', 'swtpm', 'swtpm_setup', 'swtpm_localca', 'tpm2_createek', 'openssl'].filter((t) => !have(t));

function run(cmd, args, opts = {}) {
  const r = spawnSync('nice', ['-n', '10', cmd, ...args], { stdio: ['ignore', 'inherit', 'inherit'], ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 3).join(' ')}… failed (${r.status ?? r.signal})`);
}

/** The cached image, built first when missing. Returns its files and the build time (null: cached). */
export function ensureImage({ log = (l) => process.stderr.write(`${l}\n`) } = {}) {
  const files = { dir: imageDir, rootfs: join(imageDir, 'rootfs.img'), kernel: join(imageDir, 'vmlinuz'), initrd: join(imageDir, 'initrd.img') };
  if (existsSync(join(imageDir, 'done'))) return { ...files, buildSeconds: null };
  const t0 = Date.now();
  const tmp = `${imageDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, 'root'), { recursive: true });
  log(`vm image: building ${recipeHash} with mmdebstrap (first run on this machine; cached in ${cacheRoot})`);
  // The host's own Debian sources when it has them (mirror settings stay the machine's business).
  const sources = ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list'].find((f) => existsSync(f) && readFileSync(f, 'utf8').includes(SUITE));
  run('mmdebstrap', ['--mode=root', '--variant=minbase', `--include=${PACKAGES.join(',')}`, '--customize-hook', CUSTOMIZE, '--customize-hook', `cp "$1"/boot/vmlinuz-* "${tmp}/vmlinuz"; cp "$1"/boot/initrd.img-* "${tmp}/initrd.img"`, SUITE, join(tmp, 'root'), ...(sources ? [sources] : [])]);
  run('mkfs.ext4', ['-q', '-F', '-L', 'root', '-d', join(tmp, 'root'), join(tmp, 'rootfs.img'), SIZE]);
  rmSync(join(tmp, 'root'), { recursive: true, force: true });
  copyFileSync(new URL(import.meta.url), join(tmp, 'recipe.mjs'));
  mkdirSync(cacheRoot, { recursive: true });
  rmSync(imageDir, { recursive: true, force: true });
  renameSync(tmp, imageDir);
  spawnSync('touch', [join(imageDir, 'done')]);
  // Older recipes' images are dead weight.
  for (const d of readdirSync(cacheRoot)) if (d !== recipeHash && !d.includes('.tmp-')) rmSync(join(cacheRoot, d), { recursive: true, force: true });
  return { ...files, buildSeconds: Math.round((Date.now() - t0) / 1000) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const missing = missingTools();
  if (missing.length) {
    console.log(`vm image: skipped (missing ${missing.join(', ')})`);
    process.exit(77);
  }
  const img = ensureImage();
  console.log(img.buildSeconds === null ? `vm image: cached ${img.dir}` : `vm image: cold build ${img.dir} in ${img.buildSeconds} s`);
}
