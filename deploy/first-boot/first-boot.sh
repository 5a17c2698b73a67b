#!/bin/sh
# k3s-enroll first-boot wrapper (run by k3s-enroll.service, installed as /opt/k3s-enroll/first-boot.sh).
#   first-boot.sh --check : exit 1 (skip) when the k3s config already holds a token, else 0
#   first-boot.sh         : run enroll.sh until it succeeds; while the service is unavailable or
#                           unreachable (exit 4) wait with exponential backoff and jitter, on any
#                           other failure (2 usage, 3 TPM, 5 refused, 6/7 cluster CA, 8 config)
#                           stop with that exit code.
# Settings come from the environment (/etc/k3s-enroll.env): METHOD (default tpm), MACHINE_ID
# (default: the hostname), ENROLL_RETRY_MIN_SECONDS (5), ENROLL_RETRY_MAX_SECONDS (300), and
# everything enroll.sh reads.
set -u

K3S_CONFIG=${K3S_CONFIG:-/etc/rancher/k3s/config.yaml}
ENROLL_SH=${ENROLL_SH:-/opt/k3s-enroll/enroll.sh}
export K3S_CONFIG

if [ "${1:-}" = --check ]; then
  if grep -qs '^token:' "$K3S_CONFIG"; then
    echo "k3s-enroll: $K3S_CONFIG already holds a token; not enrolling again"
    exit 1
  fi
  exit 0
fi

METHOD=${METHOD:-tpm}
MACHINE_ID=${MACHINE_ID:-$(cat /proc/sys/kernel/hostname)}
export METHOD MACHINE_ID

# The kernel's TPM driver may bind after this unit starts: give /dev/tpmrm0 a moment.
if [ "$METHOD" = tpm ] && [ -z "${TPM2TOOLS_TCTI:-}" ]; then
  i=0
  while [ ! -e /dev/tpmrm0 ] && [ "$i" -lt 30 ]; do sleep 1; i=$((i + 1)); done
  [ -e /dev/tpmrm0 ] || echo "k3s-enroll: no /dev/tpmrm0 after ${i} s (is the TPM enabled?)"
fi

delay=${ENROLL_RETRY_MIN_SECONDS:-5}
max=${ENROLL_RETRY_MAX_SECONDS:-300}
attempt=1
while :; do
  echo "k3s-enroll: enrolling $MACHINE_ID with method $METHOD at ${ENROLL_URL:-?} (attempt $attempt)"
  sh "$ENROLL_SH" "$METHOD"
  rc=$?
  case $rc in
    0)
      echo "k3s-enroll: enrolled $MACHINE_ID via $METHOD"
      exit 0
      ;;
    4)
      # Jitter: up to a quarter of the delay, so a fleet that booted together spreads out.
      jitter=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % (delay / 4 + 1) ))
      echo "k3s-enroll: service unavailable (exit 4); retrying in $((delay + jitter)) s"
      sleep $((delay + jitter))
      delay=$((delay * 2))
      [ "$delay" -le "$max" ] || delay=$max
      ;;
    *)
      echo "k3s-enroll: enrollment failed (exit $rc), not retrying; k3s-agent will not start. Fix the cause, then: systemctl restart k3s-enroll"
      exit "$rc"
      ;;
  esac
  attempt=$((attempt + 1))
done
