#!/bin/sh
# VM test only: report what the test checks on the serial console, then power off.
# Never prints the token's secret (only its public id).
c=/etc/rancher/k3s/config.yaml
show() { systemctl show -p "$2" --value "$1"; }
echo "VMTEST enroll active=$(show k3s-enroll.service ActiveState) result=$(show k3s-enroll.service Result) status=$(show k3s-enroll.service ExecMainStatus)"
echo "VMTEST agent active=$(show k3s-agent.service ActiveState) result=$(show k3s-agent.service Result)"
if [ -f "$c" ]; then
  echo "VMTEST config mode=$(stat -c %a "$c") owner=$(stat -c %U "$c")" \
    "node-name=$(sed -n 's/^node-name: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$c")" \
    "token-id=$(sed -n 's/^token: "K10[0-9a-f]\{64\}::\([a-z0-9]\{6\}\)\.[a-z0-9]\{16\}"$/\1/p' "$c")" \
    "server=$(sed -n 's/^server: "\(.*\)"$/\1/p' "$c")"
else
  echo "VMTEST config missing"
fi
echo "VMTEST tpm $(ls /dev/tpmrm0 2>&1)"
# Where the boot's time went (seconds since the kernel started; diagnostics for slow TCG runs).
mono() { v=$(systemctl show -p "$2" --value "$1"); echo $((${v:-0} / 1000000)); }
echo "VMTIME network-online=$(mono network-online.target ActiveEnterTimestampMonotonic)s" \
  "enroll-start=$(mono k3s-enroll.service InactiveExitTimestampMonotonic)s" \
  "enroll-done=$(mono k3s-enroll.service ActiveEnterTimestampMonotonic)s report=$(cut -d. -f1 /proc/uptime)s"
echo "VMTEST done"
# Nothing left to keep: flush and power off at once (the next boot replays the journal if needed).
sync
systemctl poweroff --force --force
