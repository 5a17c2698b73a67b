#!/bin/sh
# enroll.sh — what an edge machine runs at first boot. POSIX sh + curl + openssl (+ tpm2-tools for
# the TPM method). Proves the machine to k3s-enroll, checks the cluster CA exactly as a k3s agent
# would (hash of /cacerts must equal the token's K10 hash, then the server certificate must verify
# against that CA), and only then writes the k3s config (server:, token:, node-name: <machine id>)
# with mode 0600. The node name binds the Node to the machine: the service's join watch looks for it.
#
# Usage: ENROLL_URL=https://enroll.example.com scripts/enroll.sh [tpm|code|jwt]
#        scripts/enroll.sh ca-hash FILE   (prints the K10 CA hash k3s computes for a /cacerts bundle)
#   tpm : TPM2TOOLS_TCTI (default device:/dev/tpmrm0, the kernel's resource manager), EK cert read from NV 0x1c00002 (RSA) if present;
#         TPM_QUOTE_PCRS (e.g. sha256:0,1,2,3,7) adds a quote when the service has a PCR policy
#   code: MACHINE_ID, ENROLL_CODE
#   jwt : JWT or JWT_FILE
# Options (env): K3S_CONFIG (default /etc/rancher/k3s/config.yaml), ENROLL_CACERT (CA bundle for
# ENROLL_URL, default: system trust), WORK_DIR (default: a fresh `mktemp -d` dir; no fallback),
# ENROLL_CONNECT_TIMEOUT (seconds, default 10), ENROLL_MAX_TIME (seconds per request, default 60),
# ENROLL_ALLOW_HTTP=1 (allow an http:// ENROLL_URL that is not loopback: the enrollment secret and
# the returned token would cross the network in clear text; only for an isolated lab network),
# ENROLL_MAX_WAIT (seconds spent waiting between retries, in all for the run, before giving up,
# default 900: a busy service (429/503 + Retry-After) or an unreachable one is retried after
# Retry-After plus jitter, else 2, 4, … 60 s).
# Every POST of one proof carries the same Idempotency-Key, so a retry after a lost answer gets a
# working token (see docs/operator-guide.md "Boot storms"); headers go to curl from a 0600 file,
# never on its command line (which any local user can read with ps).
# tpm: a challenge lives 5 minutes (the service says how long: its Date header to `expiresAt`); a
# wait that would outlast it fetches a new challenge (and a new key) instead of resending a dead
# answer, and so does a refusal (401) of an answer that was resent after a wait.
# Exit codes: 0 ok, 2 usage/config, 3 TPM, 4 service unavailable or unreachable, 5 enrollment
# refused, 6 cluster CA hash mismatch, 7 cluster TLS verification failed, 8 writing the config failed.
set -eu

METHOD=${1:-${METHOD:-tpm}}
K3S_CONFIG=${K3S_CONFIG:-/etc/rancher/k3s/config.yaml}

die() { code=$1; shift; printf 'enroll: %s\n' "$*" >&2; exit "$code"; }
info() { printf 'enroll: %s\n' "$*" >&2; }

# ca_hash FILE: the K10 CA hash exactly as k3s hashCA computes it (reference/k3s-token.md §2.1):
# one certificate → SHA-256 of the bytes as served; several → SHA-256 of the DER of the root of the
# chain certs[0] verifies to, where the roots are those of certs[1..] with no AuthorityKeyId or
# AKID = SKID (any of them may anchor, as in Go) and the others are intermediates; on any failure
# (wrong order, expired, EKU without serverAuth, no root) the SHA-256 of the bytes as served.
ca_hash() {
  bundle=$1
  sha_file() { openssl dgst -sha256 -r "$1" | sed 's/ .*//'; }
  ncerts=$(grep -c -- '-----BEGIN CERTIFICATE-----' "$bundle" || true)
  [ "$ncerts" -ge 1 ] || return 1
  if [ "$ncerts" -eq 1 ]; then sha_file "$bundle"; return 0; fi
  hd=$(mktemp -d) || return 1
  awk -v d="$hd" '/-----BEGIN CERTIFICATE-----/{n++; inblk=1} inblk{print > (d "/cert" n ".pem")} /-----END CERTIFICATE-----/{inblk=0}' "$bundle"
  : > "$hd/inter.pem"
  roots=""
  i=2
  while [ "$i" -le "$ncerts" ]; do
    c="$hd/cert$i.pem"
    skid=$(openssl x509 -in "$c" -noout -ext subjectKeyIdentifier 2>/dev/null | sed -n '2p' | tr -d ' :' | tr '[:lower:]' '[:upper:]')
    akid=$(openssl x509 -in "$c" -noout -ext authorityKeyIdentifier 2>/dev/null | sed -n '2p' | sed 's/^ *keyid://' | tr -d ' :' | tr '[:lower:]' '[:upper:]')
    if [ -z "$akid" ] || [ "$akid" = "$skid" ]; then roots="$roots $i"; else cat "$c" >> "$hd/inter.pem"; fi
    i=$((i + 1))
  done
  # Go's default verification also requires serverAuth (or anyExtendedKeyUsage) wherever an EKU is set.
  eku_ok() { e=$(openssl x509 -in "$1" -noout -ext extendedKeyUsage 2>/dev/null | sed -n '2p'); [ -z "$e" ] || case "$e" in *"TLS Web Server Authentication"*|*"Any Extended Key Usage"*) true ;; *) false ;; esac; }
  picked=""
  if eku_ok "$hd/cert1.pem"; then
    for r in $roots; do
      set -- -no-CApath -no-CAstore -partial_chain -CAfile "$hd/cert$r.pem"
      [ -s "$hd/inter.pem" ] && set -- "$@" -untrusted "$hd/inter.pem"
      if openssl verify "$@" "$hd/cert1.pem" >/dev/null 2>&1 && eku_ok "$hd/cert$r.pem"; then picked="$hd/cert$r.pem"; break; fi
    done
  fi
  if [ -n "$picked" ]; then openssl x509 -in "$picked" -outform der | openssl dgst -sha256 -r | sed 's/ .*//'; else sha_file "$bundle"; fi
  rm -rf "$hd"
}

if [ "$METHOD" = ca-hash ]; then
  if [ -z "${2:-}" ] || [ ! -r "$2" ]; then die 2 "usage: enroll.sh ca-hash FILE"; fi
  ca_hash "$2" || die 6 "$2 holds no certificate"
  exit 0
fi

[ -n "${ENROLL_URL:-}" ] || die 2 "ENROLL_URL is required (e.g. https://enroll.example.com)"
ENROLL_URL=${ENROLL_URL%/}
for tool in curl openssl sed od tr; do command -v "$tool" >/dev/null 2>&1 || die 2 "missing tool: $tool"; done

# https only, except to this machine itself (loopback) or with ENROLL_ALLOW_HTTP=1: the enrollment
# secret goes out and a join token comes back in this exchange.
url_host() {
  h=${1#*://}
  h=${h%%/*}
  h=${h##*@}
  case "$h" in
    \[*) h=${h%%]*}] ;;
    *) h=${h%%:*} ;;
  esac
  printf '%s' "$h" | tr '[:upper:]' '[:lower:]'
}
is_loopback() {
  case "$1" in
    localhost|\[::1\]) return 0 ;;
    127.*) printf '%s' "$1" | grep -Eq '^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$' ;;
    *) return 1 ;;
  esac
}
case "$ENROLL_URL" in
  [Hh][Tt][Tt][Pp][Ss]://*) ;;
  [Hh][Tt][Tt][Pp]://*)
    if ! is_loopback "$(url_host "$ENROLL_URL")" && [ "${ENROLL_ALLOW_HTTP:-}" != 1 ]; then
      die 2 "refusing http:// ENROLL_URL to a non-loopback host (secrets would cross the network in clear text); use https://, or set ENROLL_ALLOW_HTTP=1 on an isolated lab network"
    fi ;;
  *) die 2 "ENROLL_URL must be an https:// URL" ;;
esac

CONNECT_TIMEOUT=${ENROLL_CONNECT_TIMEOUT:-10}
MAX_TIME=${ENROLL_MAX_TIME:-60}
case "$CONNECT_TIMEOUT$MAX_TIME" in *[!0-9]*) die 2 "ENROLL_CONNECT_TIMEOUT and ENROLL_MAX_TIME must be whole seconds" ;; esac
if [ "$CONNECT_TIMEOUT" -lt 1 ] || [ "$MAX_TIME" -lt 1 ]; then die 2 "ENROLL_CONNECT_TIMEOUT and ENROLL_MAX_TIME must be at least 1"; fi

# A private work dir from mktemp -d only: a predictable name in /tmp could be pre-created by
# another local user (symlink or read access to the secrets written there).
if [ -z "${WORK_DIR:-}" ]; then
  if ! WORK_DIR=$(mktemp -d 2>/dev/null) || [ -z "$WORK_DIR" ] || [ ! -d "$WORK_DIR" ]; then
    die 2 "cannot create a private work directory (mktemp -d failed); set WORK_DIR to an existing private directory"
  fi
else
  mkdir -p "$WORK_DIR" || die 2 "cannot create WORK_DIR $WORK_DIR"
fi
chmod 700 "$WORK_DIR" || die 2 "cannot restrict WORK_DIR $WORK_DIR"
cleanup() { [ -n "${KEEP_WORK_DIR:-}" ] || rm -rf "$WORK_DIR"; }
trap cleanup EXIT INT TERM

# Every curl call: bounded connect and total time (a stalled peer must not hang first boot).
ccurl() { curl --connect-timeout "$CONNECT_TIMEOUT" --max-time "$MAX_TIME" "$@"; }
CURL_CA=""
[ -z "${ENROLL_CACERT:-}" ] || CURL_CA="--cacert $ENROLL_CACERT"

b64() { openssl base64 -A -in "$1"; }
# json_escape VALUE: backslash and double quote escaped for a JSON string (codes are printable ASCII).
json_escape() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
# json_str FIELD FILE: the string value of a top-level field (the service's JSON has no escapes there).
json_str() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" "$2" | head -n 1; }

ENROLL_MAX_WAIT=${ENROLL_MAX_WAIT:-900}
case "$ENROLL_MAX_WAIT" in ''|*[!0-9]*) die 2 "ENROLL_MAX_WAIT must be a number of seconds" ;; esac
WAITED=0
# new_idempotency_key: one key per attempt series (one proof): the service recognises our retries
# of it. Written with the other request headers to a 0600 file that curl reads (-H @file).
new_idempotency_key() {
  key=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  [ ${#key} -eq 32 ] || die 2 "cannot read /dev/urandom"
  ( umask 077; printf 'content-type: application/json\nidempotency-key: %s\n' "$key" > "$WORK_DIR/request-headers" ) || die 2 "cannot write $WORK_DIR/request-headers"
}
new_idempotency_key
# rand N: a uniform-ish integer in [0, N].
rand() { r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' '); echo $(( r % ($1 + 1) )); }
# clock: seconds on this machine's clock (only differences are used), or empty without `date +%s`.
clock() { c=$(date +%s 2>/dev/null) || c=""; case "$c" in ''|*[!0-9]*) c="" ;; esac; printf '%s' "$c"; }
# challenge_life OUT HEADERS: how long the challenge in OUT lives, in seconds, on the service's own
# clock (its Date header to the answer's expiresAt), so this machine's clock does not matter;
# 300 (the service's challenge lifetime) when either is missing.
challenge_life() {
  printf '%s\n%s\n' "$(json_str expiresAt "$1")" "$(tr -d '\r' < "$2" | sed -n 's/^[Dd][Aa][Tt][Ee]:[[:space:]]*//p' | tail -n 1)" | awk '
    function days(y, m, d) { if (m <= 2) { y--; m += 12 } return 365 * y + int(y / 4) - int(y / 100) + int(y / 400) + int((153 * (m - 3) + 2) / 5) + d - 719469 }
    NR == 1 && $0 ~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]/ { e = days(substr($0, 1, 4) + 0, substr($0, 6, 2) + 0, substr($0, 9, 2) + 0) * 86400 + substr($0, 12, 2) * 3600 + substr($0, 15, 2) * 60 + substr($0, 18, 2) }
    NR == 2 && split($0, f, /[ :]+/) >= 7 { m = index("JanFebMarAprMayJunJulAugSepOctNovDec", f[3]); if (m > 0) d = days(f[4] + 0, (m + 2) / 3, f[2] + 0) * 86400 + f[5] * 3600 + f[6] * 60 + f[7] }
    END { if (e > 0 && d > 0 && e > d) print e - d; else print 300 }'
}

# post PATH BODYFILE OUTFILE [challenge]: POST JSON; waits out 429/502/503/504 and unreachable
# service within ENROLL_MAX_WAIT (Retry-After + jitter); maps other failures to exit codes with the
# service's detail. With `challenge` (the body answers the challenge fetched at CHALLENGE_AT), it
# returns 3 instead of resending an answer the challenge would not outlive, or on a 401 to a resend.
post() {
  attempt=0
  while :; do
    attempt=$((attempt + 1))
    : > "$WORK_DIR/headers"
    # shellcheck disable=SC2086
    status=$(ccurl -sS $CURL_CA -D "$WORK_DIR/headers" -o "$3" -w '%{http_code}' -X POST \
      -H "@$WORK_DIR/request-headers" --data-binary "@$2" "$ENROLL_URL$1") || status=000
    case "$status" in
      2??) return 0 ;;
      401) if [ -n "${4:-}" ] && [ "$attempt" -gt 1 ]; then info "answer refused after a wait (401 $(json_str code "$3")): the challenge may have expired; fetching a new one"; return 3; fi
        die 5 "enrollment refused ($status): $(json_str code "$3"): $(json_str detail "$3")" ;;
      000) why="cannot reach $ENROLL_URL" ;;
      429|502|503|504) why="service busy ($status $(json_str code "$3"))" ;;
      5??) die 4 "service unavailable ($status): $(json_str detail "$3") $(json_str code "$3")" ;;
      *) die 5 "enrollment refused ($status): $(json_str code "$3"): $(json_str detail "$3")" ;;
    esac
    ra=$(tr -d '\r' < "$WORK_DIR/headers" | sed -n 's/^[Rr][Ee][Tt][Rr][Yy]-[Aa][Ff][Tt][Ee][Rr]:[[:space:]]*\([0-9][0-9]*\)[[:space:]]*$/\1/p' | tail -n 1)
    if [ -z "$ra" ]; then ra=$((attempt < 6 ? 1 << attempt : 60)); fi
    [ "$ra" -le 3600 ] || ra=3600
    wait=$((ra + $(rand $(( (ra + 1) / 2 )))))
    [ $((WAITED + wait)) -le "$ENROLL_MAX_WAIT" ] || die 4 "$why; gave up after waiting ${WAITED}s in $attempt attempts (ENROLL_MAX_WAIT=$ENROLL_MAX_WAIT)"
    info "$why; retrying $1 in ${wait}s (attempt $((attempt + 1)), waited ${WAITED}s of ${ENROLL_MAX_WAIT}s)"
    sleep "$wait"
    WAITED=$((WAITED + wait))
    if [ -n "${4:-}" ]; then
      # The challenge's age: by the clock, else (no `date +%s`) waits plus every request at its longest.
      now=$(clock)
      if [ -n "$now" ] && [ -n "$CHALLENGE_AT" ]; then age=$((now - CHALLENGE_AT)); else age=$((WAITED - CHALLENGE_WAITED + attempt * MAX_TIME)); fi
      if [ $((age + MAX_TIME)) -ge "$CHALLENGE_LIFE" ]; then
        info "the challenge (${CHALLENGE_LIFE}s) would expire before the next answer arrives (${age}s old); fetching a new one"
        return 3
      fi
    fi
  done
}

tpm() { "$@" >"$WORK_DIR/tpm.log" 2>&1 || { cat "$WORK_DIR/tpm.log" >&2; die 3 "TPM command failed: $1"; }; }

# tpm_prove: fetch a challenge for this EK and AK (challenge.json), activate its credential with the
# TPM and write the answer (enroll.json). Each challenge is a new proof: a new Idempotency-Key.
tpm_prove() {
  post /v1/enroll/challenge challenge.json challenge.out
  CHALLENGE_AT=$(clock)
  CHALLENGE_WAITED=$WAITED
  CHALLENGE_LIFE=$(challenge_life challenge.out "$WORK_DIR/headers")
  challenge_id=$(json_str challengeId challenge.out)
  json_str tpm2ToolsCredential challenge.out | openssl base64 -d -A > cred.blob
  if [ -z "$challenge_id" ] || [ ! -s cred.blob ]; then die 5 "malformed challenge from the service"; fi
  tpm tpm2_startauthsession --policy-session -S session.ctx
  tpm tpm2_policysecret -S session.ctx -c e
  tpm tpm2_activatecredential -c ak.ctx -C ek.ctx -i cred.blob -o secret.bin -P session:session.ctx
  tpm2_flushcontext session.ctx >/dev/null 2>&1 || true
  tpm2_flushcontext -t >/dev/null 2>&1 || true
  if [ -n "${TPM_QUOTE_PCRS:-}" ]; then
    nonce=$(json_str nonce challenge.out)
    tpm tpm2_quote -c ak.ctx -l "$TPM_QUOTE_PCRS" -q "$nonce" -m quote.msg -s quote.sig -g sha256
    tpm2_flushcontext -t >/dev/null 2>&1 || true
    printf '{"method":"tpm","challengeId":"%s","secret":"%s","akPublic":"%s","quote":{"message":"%s","signature":"%s"}}' \
      "$challenge_id" "$(b64 secret.bin)" "$(b64 ak.pub)" "$(b64 quote.msg)" "$(b64 quote.sig)" > enroll.json
  else
    printf '{"method":"tpm","challengeId":"%s","secret":"%s"}' "$challenge_id" "$(b64 secret.bin)" > enroll.json
  fi
  new_idempotency_key
}

case "$METHOD" in
  tpm)
    for tool in tpm2_createek tpm2_createak tpm2_activatecredential tpm2_startauthsession tpm2_policysecret tpm2_flushcontext tpm2_nvread; do
      command -v "$tool" >/dev/null 2>&1 || die 2 "missing tool: $tool (install tpm2-tools)"
    done
    # The kernel's resource manager unless told otherwise (tpm2-tools would try tabrmd first).
    [ -n "${TPM2TOOLS_TCTI:-}" ] || export TPM2TOOLS_TCTI=device:/dev/tpmrm0
    cd "$WORK_DIR"
    tpm tpm2_createek -c ek.ctx -G rsa -u ek.pub -f tss
    tpm tpm2_flushcontext -t
    tpm tpm2_readpublic -c ek.ctx -f pem -o ek.pem
    tpm tpm2_flushcontext -t
    tpm tpm2_createak -C ek.ctx -c ak.ctx -G rsa -g sha256 -s rsassa -u ak.pub -n ak.name
    tpm tpm2_flushcontext -t
    tpm2_flushcontext -s >/dev/null 2>&1 || true
    if tpm2_nvread 0x1c00002 -C o -o ek-cert.der >/dev/null 2>&1 && [ -s ek-cert.der ]; then
      printf '{"method":"tpm","ekCert":"%s","akPublic":"%s"}' "$(b64 ek-cert.der)" "$(b64 ak.pub)" > challenge.json
    else
      info "no EK certificate in NV; sending the EK public key (it must be pre-registered)"
      ekpem=$(sed ':a;N;$!ba;s/\n/\\n/g' ek.pem)
      printf '{"method":"tpm","ekPub":"%s","akPublic":"%s"}' "$ekpem" "$(b64 ak.pub)" > challenge.json
    fi
    tpm_prove
    ;;
  code)
    if [ -z "${MACHINE_ID:-}" ] || [ -z "${ENROLL_CODE:-}" ]; then die 2 "MACHINE_ID and ENROLL_CODE are required for the code method"; fi
    cd "$WORK_DIR"
    printf '{"method":"code","machineId":"%s","code":"%s"}' "$(json_escape "$MACHINE_ID")" "$(json_escape "$ENROLL_CODE")" > enroll.json
    ;;
  jwt)
    cd "$WORK_DIR"
    if [ -n "${JWT_FILE:-}" ]; then JWT=$(cat "$JWT_FILE"); fi
    [ -n "${JWT:-}" ] || die 2 "JWT or JWT_FILE is required for the jwt method"
    printf '{"method":"jwt","jwt":"%s"}' "$(json_escape "$JWT")" > enroll.json
    ;;
  *) die 2 "unknown method: $METHOD (tpm, code or jwt)" ;;
esac

if [ "$METHOD" = tpm ]; then
  # A challenge that would die while we wait out the service: prove again with a fresh one.
  while :; do
    rc=0
    post /v1/enroll enroll.json enroll.out challenge || rc=$?
    [ "$rc" -eq 3 ] || break
    tpm_prove
  done
else
  post /v1/enroll enroll.json enroll.out
fi
token=$(json_str token enroll.out)
server=$(json_str server enroll.out)
case "$token" in K10????????????????????????????????????????????????????????????????::*) ;; *) die 5 "the service returned no secure (K10) token" ;; esac
[ -n "$server" ] || die 5 "the service returned no server URL"
token_hash=$(printf '%s' "$token" | sed 's/^K10\([0-9a-f]*\)::.*/\1/')

# k3s's TLS bootstrap: fetch /cacerts without verification, hash it as k3s does, compare, then
# verify the server certificate against that CA alone. No credential has been sent to it yet.
case "$server" in https://*) ;; *) die 5 "the service returned a server URL that is not https://" ;; esac
ccurl -sSk -o cacerts.pem "$server/cacerts" || die 7 "cannot fetch $server/cacerts"
ca_hash=$(ca_hash cacerts.pem) || die 7 "$server/cacerts holds no certificate"
[ "$ca_hash" = "$token_hash" ] || die 6 "token CA hash does not match the Cluster CA certificate hash: $token_hash != $ca_hash"
ccurl -sS --cacert cacerts.pem -o /dev/null "$server/cacerts" || die 7 "CA cert validation failed: the server certificate does not verify against $server/cacerts"

# The Node is named after the machine (a valid node name by construction; checked, never trusted).
node_name=$(json_str machineId enroll.out)
printf '%s' "$node_name" | grep -Eq '^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$' || die 5 "the service answered an invalid machine id"

# Write the k3s config atomically, mode 0600, keeping any other settings already there.
dir=$(dirname "$K3S_CONFIG")
mkdir -p "$dir" || die 8 "cannot create $dir"
tmp="$K3S_CONFIG.enroll.$$"
( umask 077
  if [ -f "$K3S_CONFIG" ]; then grep -v -e '^server:' -e '^token:' -e '^node-name:' "$K3S_CONFIG" || true; fi > "$tmp"
  printf 'server: "%s"\ntoken: "%s"\nnode-name: "%s"\n' "$server" "$token" "$node_name" >> "$tmp"
) || die 8 "cannot write $tmp"
if ! { chmod 600 "$tmp" && mv "$tmp" "$K3S_CONFIG"; }; then rm -f "$tmp"; die 8 "cannot write $K3S_CONFIG"; fi
info "enrolled as $(json_str machineId enroll.out) (token $(json_str tokenId enroll.out), expires $(json_str expiresAt enroll.out)); wrote $K3S_CONFIG"
