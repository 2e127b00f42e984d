#!/usr/bin/env bash
# kpm's SSH agent against OpenSSH's own ssh-agent holding the same key (an ed25519 key generated in
# the vault and exported for ssh-agent), in one run:
#   - one signature through the agent (agent protocol only, bench/lib/agent-client.mjs: a sign
#     request on an open connection, and a whole login round: connect, list, sign, close);
#   - `ssh-add -L` (process wall time);
#   - a full `ssh` login to a loopback sshd (own host key, config and authorized_keys) with each.
# Target: a signature within 1.5× of OpenSSH's agent. Without hyperfine, bench/lib/timecmd.mjs
# times the processes instead. Usage: bash bench/ssh.sh   (BENCH_ENTRIES=1000: entries in the vault)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

N="${BENCH_ENTRIES:-1000}"
ensure_tools hyperfine:hyperfine jq:jq sshd:openssh-server ssh:openssh-client
have jq || die "jq is required"
SSHD="$(command -v sshd || echo /usr/sbin/sshd)"
[ -x "$SSHD" ] || die "sshd is required (openssh-server)"
build_kpm
new_run_dir
machine_note
log "uptime: $(uptime)"

KH="$RUN_DIR/kpm"
make_kpm_home "$KH" "$N"
export KPM_HOME="$KH"
unset KPM_MASTER_PASSWORD KPM_TOKEN
KPM_MASTER_PASSWORD="$MASTER" "$KPM" ssh generate bench --comment bench@example.org >"$RUN_DIR/bench.pub" 2>/dev/null || die "kpm ssh generate failed"
"$KPM" ssh export bench -o "$RUN_DIR/id_bench" --password-stdin <"$RUN_DIR/master.txt" 2>/dev/null || die "kpm ssh export failed"
kpm_unlock "$KH"

KSOCK="$RUN_DIR/kpm-agent.sock"
OSOCK="$RUN_DIR/openssh-agent.sock"
SSHD_DIR="$RUN_DIR/sshd"
OPENSSH_AGENT_PID=""
stop_ssh_side() {
  "$KPM" ssh-agent --stop --socket "$KSOCK" >/dev/null 2>&1 || true
  [ -n "$OPENSSH_AGENT_PID" ] && kill "$OPENSSH_AGENT_PID" 2>/dev/null || true
  [ -f "$SSHD_DIR/sshd.pid" ] && kill "$(cat "$SSHD_DIR/sshd.pid")" 2>/dev/null || true
  cleanup
}
trap stop_ssh_side EXIT

"$KPM" ssh-agent --socket "$KSOCK" >/dev/null 2>&1 || die "kpm ssh-agent did not start"
eval "$(ssh-agent -a "$OSOCK")" >/dev/null
OPENSSH_AGENT_PID="$SSH_AGENT_PID"
SSH_AUTH_SOCK="$OSOCK" ssh-add -q "$RUN_DIR/id_bench" 2>/dev/null || die "ssh-add failed"
rm -f "$RUN_DIR/id_bench" # the exported copy is only for OpenSSH's agent
[ "$(SSH_AUTH_SOCK="$KSOCK" ssh-add -L)" = "$(SSH_AUTH_SOCK="$OSOCK" ssh-add -L)" ] || die "the two agents do not hold the same key"

# a loopback sshd, as the test's user
mkdir -p "$SSHD_DIR"
ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/host_ed25519"
cp "$RUN_DIR/bench.pub" "$SSHD_DIR/authorized_keys"
PORT="$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"
cat >"$SSHD_DIR/sshd_config" <<CFG
Port $PORT
ListenAddress 127.0.0.1
HostKey $SSHD_DIR/host_ed25519
PidFile $SSHD_DIR/sshd.pid
AuthorizedKeysFile $SSHD_DIR/authorized_keys
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
LogLevel ERROR
CFG
[ "$(id -u)" = 0 ] && mkdir -p /run/sshd
"$SSHD" -f "$SSHD_DIR/sshd_config" || die "sshd did not start"
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1-2 "$SSHD_DIR/host_ed25519.pub")" >"$SSHD_DIR/known_hosts"
cp "$RUN_DIR/bench.pub" "$RUN_DIR/id_bench.pub"
SSH_OPTS="-F /dev/null -p $PORT -o IdentitiesOnly=yes -o IdentityFile=$RUN_DIR/id_bench.pub -o UserKnownHostsFile=$SSHD_DIR/known_hosts -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes"
for i in $(seq 50); do ssh $SSH_OPTS -o IdentityAgent="$KSOCK" "$(id -un)@127.0.0.1" true 2>/dev/null && break; sleep 0.1; done
ssh $SSH_OPTS -o IdentityAgent="$KSOCK" "$(id -un)@127.0.0.1" true || die "ssh login through kpm's agent failed"
ssh $SSH_OPTS -o IdentityAgent="$OSOCK" "$(id -un)@127.0.0.1" true || die "ssh login through ssh-agent failed"

timeit() { # timeit OUT.json -n NAME CMD ...
  local out="$1"; shift
  if have hyperfine; then hf "$out" "$@"; else node "$BENCH_DIR/lib/timecmd.mjs" "$out" "$RUNS" "$WARMUP" "$@"; fi
}

header "one signature through the agent (agent protocol, median of 200)"
KEY_B64="$(cut -d' ' -f2 "$RUN_DIR/bench.pub")"
K="$(node "$BENCH_DIR/lib/agent-client.mjs" "$KSOCK" "$KEY_B64" 200)"
O="$(node "$BENCH_DIR/lib/agent-client.mjs" "$OSOCK" "$KEY_B64" 200)"
printf '  %-30s sign %6.2f ms   connect+list+sign %6.2f ms\n' "kpm ssh-agent" "$(jq .sign_ms <<<"$K")" "$(jq .login_round_ms <<<"$K")"
printf '  %-30s sign %6.2f ms   connect+list+sign %6.2f ms\n' "OpenSSH ssh-agent" "$(jq .sign_ms <<<"$O")" "$(jq .login_round_ms <<<"$O")"

header "ssh-add -L and a full ssh login (loopback sshd)"
USER_AT="$(id -un)@127.0.0.1"
SSH_AUTH_SOCK="$KSOCK" timeit "$RUN_DIR/list-kpm.json" -n "ssh-add -L (kpm)" "ssh-add -L"
SSH_AUTH_SOCK="$OSOCK" timeit "$RUN_DIR/list-openssh.json" -n "ssh-add -L (ssh-agent)" "ssh-add -L"
timeit "$RUN_DIR/login.json" \
  -n "ssh login (kpm)" "ssh $SSH_OPTS -o IdentityAgent=$KSOCK $USER_AT true" \
  -n "ssh login (ssh-agent)" "ssh $SSH_OPTS -o IdentityAgent=$OSOCK $USER_AT true"
print_table "$RUN_DIR/list-kpm.json" "$RUN_DIR/list-openssh.json" "$RUN_DIR/login.json"

header "ratios (same run)"
ratio "signature: kpm / ssh-agent" "$(jq .sign_ms <<<"$K")" "$(jq .sign_ms <<<"$O")" "≤ 1.5" 1.5
ratio "connect+list+sign: kpm / ssh-agent" "$(jq .login_round_ms <<<"$K")" "$(jq .login_round_ms <<<"$O")"
ratio "ssh-add -L: kpm / ssh-agent" "$(median_ms "$RUN_DIR/list-kpm.json" "ssh-add -L (kpm)")" "$(median_ms "$RUN_DIR/list-openssh.json" "ssh-add -L (ssh-agent)")"
ratio "ssh login: kpm / ssh-agent" "$(median_ms "$RUN_DIR/login.json" "ssh login (kpm)")" "$(median_ms "$RUN_DIR/login.json" "ssh login (ssh-agent)")"
log "uptime: $(uptime)"
