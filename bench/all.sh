#!/usr/bin/env bash
# Runs every benchmark once (get, read, write, lists, kdf, scale, docs, audit, growth, sync, share, ssh: those whose
# script exists), then prints one summary table of every ratio and value they report (each script's
# `ratio`, `value` and `summary` lines, token reads and writes included) against its target, with
# the load average at the start and the end (figures drift with load; ratios less). get+kdf+scale take about 5 minutes
# on 2 cores (longer the first time: peer tools are installed and the 10k-entry pass store is
# encrypted once, then kept in bench/.work/).
# Usage: bash bench/all.sh   or   npm run bench
#        BENCH_ONLY="get scale" bash bench/all.sh   runs a subset (knobs: see bench/lib/common.sh)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

# Install everything up front, with a single apt-get update.
ensure_core
benches=()
for b in ${BENCH_ONLY:-get read write lists start kdf scale docs audit growth sync share sharefiles ssh}; do
  [ -f "$BENCH_DIR/$b.sh" ] && benches+=("$b")
done
[ "${#benches[@]}" -gt 0 ] || die "no benchmark selected"
tools=(pass:pass gpg:gnupg gopass:gopass keepassxc-cli:keepassxc)
if [[ " ${benches[*]} " == *" docs "* ]]; then tools+=(age:age age-keygen:age); fi
if [[ " ${benches[*]} " == *" ssh "* ]]; then tools+=(sshd:openssh-server ssh:openssh-client); fi
ensure_tools "${tools[@]}"
build_kpm
export BENCH_NO_BUILD=1

export BENCH_SUMMARY="$WORK_ROOT/summary.$$.tsv"
: >"$BENCH_SUMMARY"
trap 'rm -f "$BENCH_SUMMARY"' EXIT

start=$SECONDS
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
failed=()
for b in "${benches[@]}"; do
  printf '\n######## bench/%s.sh\n' "$b"
  t=$SECONDS
  if bash "$BENCH_DIR/$b.sh"; then log "bench/$b.sh took $((SECONDS - t)) s"; else failed+=("$b"); log "bench/$b.sh FAILED"; fi
done

printf '\n######## summary (ratios are against peers measured in the same run)\n'
printf 'load average: at the start %s, now %s (2 cores shared: absolute figures drift, ratios less)\n' "$load_start" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-46s %12s  %-8s %s\n' 'measure' 'result' 'target' ''
awk -F'\t' '{ printf "%-46s %12s  %-8s %s\n", $1, $2, $3, $4 }' "$BENCH_SUMMARY"
log "all benchmarks took $((SECONDS - start)) s"
if [ "${#failed[@]}" -gt 0 ]; then die "failed to run: ${failed[*]}"; fi
