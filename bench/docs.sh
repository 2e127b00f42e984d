#!/usr/bin/env bash
# Documents: encrypt and decrypt a 1 GiB file with kpm (`kpm doc add` / `kpm doc get`, agent
# unlocked) and with age (X25519 identity, `age -r` / `age -d -i`), interleaved in the same run.
# Prints both throughputs (MiB/s, median of BENCH_DOC_RUNS runs), the ratios kpm / age and
# kpm / (age + fsync) and kpm's peak RSS (GNU time; target: under 150 MiB).
# kpm fsyncs what it writes (blob and restored file) before renaming it into place; age does not,
# so age is also timed followed by `sync FILE`: the targets (issue 17) are against that, both
# durable on return: encrypt ≥ 0.9×, decrypt ≥ 1.0×.
# Without age (and no Debian package to install), the peer is `openssl enc -chacha20` (OpenSSL's
# ChaCha20, unauthenticated, so less work than age or kpm) and the script says so in every label.
# Every timed command starts after a `sync`, so none pays for another's dirty pages.
# A floor is timed in the same rounds: `cp` of the plaintext to a new file, then `sync FILE` (the
# copies into the page cache and the disk writes any decryption to a file must make, no cipher).
# On a virtual machine it alone can vary several-fold from one run to the next; its spread is
# printed beside kpm's and age's, so a ratio is read against it.
# Usage: bash bench/docs.sh   (knobs: BENCH_DOC_MIB=1024 BENCH_DOC_RUNS=3, and bench/lib/common.sh)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

MIB="${BENCH_DOC_MIB:-1024}"
DOC_RUNS="${BENCH_DOC_RUNS:-3}"

ensure_tools age:age age-keygen:age /usr/bin/time:time
PEER=age
if ! have age || ! have age-keygen; then
  have openssl || die "age is required (Debian package: age); openssl, the fallback peer, is missing too"
  PEER="openssl-chacha20"
  log "age is not installed: the peer is openssl enc -chacha20 (no authentication) instead"
  # age-compatible stand-ins for the two commands used below (recipient/identity are ignored)
  AGE_SHIM="$WORK_ROOT/age-shim"
  mkdir -p "$AGE_SHIM"
  cat >"$AGE_SHIM/age" <<'SH'
#!/bin/sh
# age -r R -o OUT IN | age -d -i KEY -o OUT IN, through openssl enc -chacha20 (bench only)
k=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f iv=000000000000000000000000000000ff d=
while [ $# -gt 1 ]; do case "$1" in -d) d=-d; shift;; -r|-i) shift 2;; -o) out="$2"; shift 2;; *) break;; esac; done
exec openssl enc $d -chacha20 -K $k -iv $iv -in "$1" -out "$out"
SH
  printf '#!/bin/sh\n[ "$1" = -y ] && { echo shim; exit 0; }\n[ "$1" = -o ] && : >"$2"\n' >"$AGE_SHIM/age-keygen"
  chmod +x "$AGE_SHIM/age" "$AGE_SHIM/age-keygen"
  export PATH="$AGE_SHIM:$PATH"
fi
[ -x /usr/bin/time ] || die "GNU time is required (Debian package: time)"
build_kpm
new_run_dir # removed on exit, with the 1 GiB files in it
machine_note

IN="$RUN_DIR/in.bin"
OUT="$RUN_DIR/out.bin"
AGE_FILE="$RUN_DIR/in.age"
log "writing a $MIB MiB random input file"
head -c "$((MIB * 1024 * 1024))" /dev/urandom >"$IN"

# kpm: a profile with no entries, unlocked (the agent holds the keys; the CLI streams the file).
KH="$RUN_DIR/kpm"
make_kpm_home "$KH" 0
export KPM_HOME="$KH"
unset KPM_MASTER_PASSWORD
kpm_unlock "$KH"

# age: an X25519 identity (age -p would need a terminal).
age-keygen -o "$RUN_DIR/age-key.txt" 2>/dev/null
RECIPIENT="$(age-keygen -y "$RUN_DIR/age-key.txt")"

# timed LABEL CMD... — runs CMD after a sync; appends "seconds peak_kib" to $RUN_DIR/LABEL.txt.
timed() {
  local label="$1"; shift
  sync
  /usr/bin/time -f '%e %M' -o "$RUN_DIR/time.txt" "$@" >/dev/null 2>"$RUN_DIR/cmd.err" </dev/null ||
    { cat "$RUN_DIR/cmd.err" >&2; die "$label failed: $*"; }
  tail -n 1 "$RUN_DIR/time.txt" >>"$RUN_DIR/$label.txt"
  log "  $label: $(tail -n 1 "$RUN_DIR/time.txt" | awk '{ printf "%s s, peak RSS %.0f MiB", $1, $2 / 1024 }')"
}

# Median seconds / max peak KiB of a label.
median_s() { sort -n "$RUN_DIR/$1.txt" | awk '{ s[NR] = $1 } END { print (NR % 2) ? s[(NR + 1) / 2] : (s[NR / 2] + s[NR / 2 + 1]) / 2 }'; }
spread_s() { sort -n "$RUN_DIR/$1.txt" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s–%s s", lo, hi }'; }
max_kib() { awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { print m }' "$RUN_DIR/$1.txt"; }
mibs() { awk -v m="$MIB" -v s="$1" 'BEGIN { printf "%.0f", m / s }'; }

for ((i = 1; i <= DOC_RUNS; i++)); do
  log "run $i/$DOC_RUNS"
  timed kpm-enc "$KPM" doc add "bench-doc" "$IN"
  timed age-enc age -r "$RECIPIENT" -o "$AGE_FILE" "$IN"
  rm -f "$AGE_FILE"
  timed age-enc-fsync sh -c 'age -r "$1" -o "$2" "$3" && sync "$2"' sh "$RECIPIENT" "$AGE_FILE" "$IN"
  timed kpm-dec "$KPM" doc get "bench-doc" -o "$OUT" --force
  if [ "$i" = 1 ]; then cmp -s "$IN" "$OUT" || die "kpm doc get did not restore the file byte for byte"; fi
  rm -f "$OUT"
  timed age-dec age -d -i "$RUN_DIR/age-key.txt" -o "$OUT" "$AGE_FILE"
  if [ "$i" = 1 ]; then cmp -s "$IN" "$OUT" || die "age did not restore the file"; fi
  rm -f "$OUT"
  timed age-dec-fsync sh -c 'age -d -i "$1" -o "$2" "$3" && sync "$2"' sh "$RUN_DIR/age-key.txt" "$OUT" "$AGE_FILE"
  rm -f "$OUT" "$AGE_FILE"
  timed floor-cp-fsync sh -c 'cp "$1" "$2" && sync "$2"' sh "$IN" "$OUT"
  rm -f "$OUT"
  "$KPM" doc rm "bench-doc" --yes >/dev/null 2>&1 || die "kpm doc rm failed"
done
[ -z "$(ls -A "$KH/data/blobs")" ] || die "kpm doc rm left blobs behind"

ke="$(median_s kpm-enc)"; kd="$(median_s kpm-dec)"; ae="$(median_s age-enc)"; ad="$(median_s age-dec)"
aes="$(median_s age-enc-fsync)"; ads="$(median_s age-dec-fsync)"
rss="$(awk -v a="$(max_kib kpm-enc)" -v b="$(max_kib kpm-dec)" 'BEGIN { printf "%.1f", (a > b ? a : b) / 1024 }')"
verdict() { awk -v r="$1" -v t="$2" -v dir="$3" 'BEGIN { ok = (dir == "min") ? (r >= t) : (r <= t); print ok ? "meets target" : "MISSES target" }'; }

header "a $MIB MiB file, median of $DOC_RUNS runs (seconds include process start; kpm's include fsync)"
printf '  %-24s %10s %10s\n' '' 'encrypt' 'decrypt'
printf '  %-24s %7s s  %7s s\n' 'kpm doc add / doc get' "$ke" "$kd"
printf '  %-24s %7s s  %7s s\n' "$PEER (encrypt / decrypt)" "$ae" "$ad"
printf '  %-24s %4s MiB/s %4s MiB/s\n' 'kpm throughput' "$(mibs "$ke")" "$(mibs "$kd")"
printf '  %-24s %7s s  %7s s\n' "$PEER, then fsync output" "$aes" "$ads"
printf '  %-24s %4s MiB/s %4s MiB/s\n' "$PEER throughput" "$(mibs "$ae")" "$(mibs "$ad")"
printf '  %-24s %4s MiB/s %4s MiB/s\n' "$PEER + fsync throughput" "$(mibs "$aes")" "$(mibs "$ads")"
fl="$(median_s floor-cp-fsync)"
printf '  %-24s %10s %7s s   (cp + sync, no cipher: the floor of any decryption to a file)\n' 'floor: cp, then fsync' '' "$fl"
printf '  spread over the %s runs: kpm doc get %s, %s + fsync %s, floor %s\n' "$DOC_RUNS" "$(spread_s kpm-dec)" "$PEER" "$(spread_s age-dec-fsync)" "$(spread_s floor-cp-fsync)"
summary "docs: floor (cp + fsync) / kpm doc get, $MIB MiB" "$(awk -v f="$fl" -v k="$kd" 'BEGIN { printf "%.2f", f / k }')×" "" "the copy alone, same rounds; spread $(spread_s floor-cp-fsync)"
for dir in enc dec; do
  if [ "$dir" = enc ]; then k="$ke" a="$ae" what=encrypt; else k="$kd" a="$ad" what=decrypt; fi
  r="$(awk -v k="$k" -v a="$a" 'BEGIN { printf "%.2f", a / k }')"
  printf '  %-46s %6s×   (for information: %s does not fsync)\n' "kpm/$PEER throughput, $what" "$r" "$PEER"
  summary "docs: kpm/$PEER throughput, $what $MIB MiB" "${r}×" "" "$PEER does not fsync"
done
for dir in enc dec; do
  if [ "$dir" = enc ]; then k="$ke" a="$aes" what=encrypt t=0.9; else k="$kd" a="$ads" what=decrypt t=1.0; fi
  r="$(awk -v k="$k" -v a="$a" 'BEGIN { printf "%.2f", a / k }')"
  v="$(verdict "$r" "$t" min)"
  [ "$PEER" = age ] || v="$v (peer: $PEER, not age)"
  printf '  %-46s %6s×   target ≥ %s× — %s\n' "kpm/($PEER + fsync) throughput, $what" "$r" "$t" "$v"
  summary "docs: kpm/($PEER + fsync) throughput, $what $MIB MiB" "${r}×" "≥ ${t}×" "$v"
done
v="$(verdict "$rss" 150 max)"
printf '  %-46s %6s MiB target < 150 MiB — %s\n' 'kpm peak RSS (doc add, doc get)' "$rss" "$v"
summary "docs: kpm peak RSS, $MIB MiB file" "$rss MiB" "< 150 MiB" "$v"
