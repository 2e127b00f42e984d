#!/usr/bin/env bash
# How kpm scales with the number of entries:
#   `kpm list` on 10k entries (agent) vs `node -e 0` (and `pass ls` for reference);
#   `kpm list` on 100k entries with the agent, plus the first-unlock cost (`kpm unlock`) at 100k;
#   `kpm add` at 1k vs 100k entries, with and without the agent.
# Usage: bash bench/scale.sh   (knobs: see bench/lib/common.sh; BENCH_RUNS_SLOW=5 for the slow commands)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

RUNS_SLOW="${BENCH_RUNS_SLOW:-5}"
SMALL=1000 MID=10000 BIG=100000

ensure_core
ensure_tools pass:pass gpg:gnupg
build_kpm
new_run_dir
machine_note
unset KPM_MASTER_PASSWORD
printf 'entry password\n' >"$RUN_DIR/entry.txt"

# ------------------------------------------------------------------ list, 10k
K10="$RUN_DIR/kpm10k"
make_kpm_home "$K10" "$MID"
kpm_unlock "$K10"
[ "$(KPM_HOME="$K10" "$KPM" list | wc -l)" = "$MID" ] || die "kpm list on $MID entries did not print $MID lines"
peers=()
if have pass && have gpg; then
  make_pass_store "$MID"
  peers+=(-n "pass ls (10k)" "pass ls")
fi
header "kpm list, $MID entries, agent unlocked"
KPM_HOME="$K10" hf "$RUN_DIR/list10k.json" \
  -n "node -e 0" "node -e 0" \
  -n "kpm list (10k, agent)" "$KPM list" \
  "${peers[@]}"
print_table "$RUN_DIR/list10k.json"
kpm_lock "$K10"

# ------------------------------------------------------------------ 100k: unlock, list, add
K100="$RUN_DIR/kpm100k"
log "populating $BIG entries (bulk commits through kpm's Vault.write)"
make_kpm_home "$K100" "$BIG"
header "first unlock and list, $BIG entries"
# Each run: Argon2id, then the agent starts and opens (loads, verifies) the whole vault.
RUNS="$RUNS_SLOW" WARMUP=1 hf "$RUN_DIR/unlock100k.json" -S sh --prepare "KPM_HOME=$K100 $KPM lock" \
  -n "kpm unlock (100k, first unlock)" "KPM_HOME=$K100 $KPM unlock --password-stdin --timeout 60 < $RUN_DIR/master.txt"
kpm_lock "$K100"
kpm_unlock "$K100"
[ "$(KPM_HOME="$K100" "$KPM" list | wc -l)" = "$BIG" ] || die "kpm list on $BIG entries did not print $BIG lines"
# The first list after unlock decrypts every entry's summary in the agent; later ones are cached.
KPM_HOME="$K100" RUNS="$RUNS_SLOW" WARMUP=0 hf "$RUN_DIR/list100k-first.json" --prepare "sh -c 'KPM_HOME=$K100 $KPM lock >/dev/null; KPM_HOME=$K100 $KPM unlock --password-stdin --timeout 60 < $RUN_DIR/master.txt'" \
  -n "kpm list (100k, agent, first after unlock)" "$KPM list"
kpm_unlock "$K100"
KPM_HOME="$K100" RUNS="$RUNS_SLOW" hf "$RUN_DIR/list100k.json" -n "kpm list (100k, agent)" "$KPM list"
KPM_HOME="$K100" RUNS="$RUNS_SLOW" hf "$RUN_DIR/get100k.json" -n "kpm get (100k, agent)" "$KPM get site50000"
print_table "$RUN_DIR/unlock100k.json" "$RUN_DIR/list100k-first.json" "$RUN_DIR/list100k.json" "$RUN_DIR/get100k.json"

# ------------------------------------------------------------------ add at 1k vs 100k
K1="$RUN_DIR/kpm1k"
make_kpm_home "$K1" "$SMALL"
# A new, unique name per run ($EPOCHREALTIME), so bash runs the command; hyperfine subtracts its start-up.
ADD="$KPM add \"a\$EPOCHREALTIME\" --username u --password-stdin < $RUN_DIR/entry.txt"
header "kpm add, agent unlocked"
kpm_unlock "$K1"
KPM_HOME="$K1" hf "$RUN_DIR/add1k-agent.json" -S bash -n "kpm add (1k, agent)" "$ADD"
KPM_HOME="$K100" hf "$RUN_DIR/add100k-agent.json" -S bash -n "kpm add (100k, agent)" "$ADD"
kpm_lock "$K1"
kpm_lock "$K100"
print_table "$RUN_DIR/add1k-agent.json" "$RUN_DIR/add100k-agent.json"

header "kpm add and list without an agent (KPM_MASTER_PASSWORD: key derivation and a full vault load per call)"
KPM_HOME="$K1" KPM_MASTER_PASSWORD="$MASTER" RUNS="$RUNS_SLOW" hf "$RUN_DIR/add1k-noagent.json" -S bash -n "kpm add (1k, no agent)" "$ADD"
KPM_HOME="$K100" KPM_MASTER_PASSWORD="$MASTER" RUNS="$RUNS_SLOW" hf "$RUN_DIR/add100k-noagent.json" -S bash -n "kpm add (100k, no agent)" "$ADD"
KPM_HOME="$K100" KPM_MASTER_PASSWORD="$MASTER" RUNS="$RUNS_SLOW" WARMUP=1 hf "$RUN_DIR/list100k-noagent.json" -n "kpm list (100k, no agent)" "$KPM list"
print_table "$RUN_DIR/add1k-noagent.json" "$RUN_DIR/add100k-noagent.json" "$RUN_DIR/list100k-noagent.json"

header "ratios and values (same run)"
L="$RUN_DIR/list10k.json"
ratio "kpm list 10k (agent) / node -e 0" "$(median_ms "$L" "kpm list (10k, agent)")" "$(median_ms "$L" "node -e 0")" "≤ 1.25" 1.25
ratio "kpm list 10k (agent) / pass ls" "$(median_ms "$L" "kpm list (10k, agent)")" "$(median_ms "$L" "pass ls (10k)")"
value "kpm list 100k (agent)" "$(median_ms "$RUN_DIR/list100k.json" "kpm list (100k, agent)")" ms "< 1000" 1000
value "kpm list 100k (agent, first after unlock)" "$(median_ms "$RUN_DIR/list100k-first.json" "kpm list (100k, agent, first after unlock)")" ms "< 1000" 1000
ratio "kpm first list 100k after unlock / node -e 0" "$(median_ms "$RUN_DIR/list100k-first.json" "kpm list (100k, agent, first after unlock)")" "$(median_ms "$L" "node -e 0")"
ratio "kpm first list 100k after unlock / later list" "$(median_ms "$RUN_DIR/list100k-first.json" "kpm list (100k, agent, first after unlock)")" "$(median_ms "$RUN_DIR/list100k.json" "kpm list (100k, agent)")"
value "kpm unlock 100k (first unlock)" "$(median_ms "$RUN_DIR/unlock100k.json" "kpm unlock (100k, first unlock)")" ms
value "kpm list 100k (no agent)" "$(median_ms "$RUN_DIR/list100k-noagent.json" "kpm list (100k, no agent)")" ms
ratio "kpm add 100k / 1k (agent)" "$(median_ms "$RUN_DIR/add100k-agent.json" "kpm add (100k, agent)")" "$(median_ms "$RUN_DIR/add1k-agent.json" "kpm add (1k, agent)")" "≤ 2" 2
ratio "kpm add 100k / 1k (no agent)" "$(median_ms "$RUN_DIR/add100k-noagent.json" "kpm add (100k, no agent)")" "$(median_ms "$RUN_DIR/add1k-noagent.json" "kpm add (1k, no agent)")" "≤ 2" 2
