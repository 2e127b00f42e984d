#!/usr/bin/env bash
# `kpm import` of N entries (default 10,000), from CSV and from KeePass 2 XML, each into a fresh
# profile (made in hyperfine's --prepare, untimed); prints entries/s. Against `keepassxc-cli import`
# of the same XML file (a new .kdbx), when keepassxc is available. Both timings include one key
# derivation (kpm: Argon2id 64 MiB, t=3, p=4).
# Usage: bash bench/import.sh   (knobs: see bench/lib/common.sh; BENCH_ENTRIES=10000)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

N="${BENCH_ENTRIES:-10000}"
RUNS="${BENCH_RUNS_SLOW:-5}"
WARMUP=1

ensure_core
ensure_tools keepassxc-cli:keepassxc
build_kpm
new_run_dir
machine_note

CSV="$RUN_DIR/entries.csv"
XML="$RUN_DIR/entries.xml"
KH="$RUN_DIR/kpm"
_kpm_homes+=("$KH")
{
  echo 'name,url,username,password,notes,totp'
  for ((i = 0; i < N; i++)); do echo "site$i,https://site$i.example.com,user$i,$(printf 'pw-%06d-Xy!' "$i"),\"note $i, with comma\","; done
} >"$CSV"
node "$POPULATE" keepass-xml "$XML" --count "$N"
log "$N entries: $(du -h "$CSV" | cut -f1) CSV, $(du -h "$XML" | cut -f1) XML"

export KPM_MASTER_PASSWORD="$MASTER"
fresh="rm -rf '$KH' && mkdir -p '$KH' && KPM_HOME='$KH' '$KPM' init --password-stdin < '$RUN_DIR/master.txt' >/dev/null 2>&1"
cmds=(
  -n "kpm import csv" "KPM_HOME='$KH' '$KPM' import '$CSV' --format csv"
  -n "kpm import keepass-xml" "KPM_HOME='$KH' '$KPM' import '$XML' --format keepass-xml"
)
# a check run of each: every entry must be there
for fmt in csv keepass-xml; do
  bash -c "$fresh"
  src="$CSV"; [ "$fmt" = keepass-xml ] && src="$XML"
  KPM_HOME="$KH" "$KPM" import "$src" --format "$fmt" 2>/dev/null
  got="$(KPM_HOME="$KH" "$KPM" status --json | jq .entries)"
  [ "$got" = "$N" ] || die "kpm import --format $fmt: expected $N entries, found $got"
done

KDBX="$RUN_DIR/db.kdbx"
if have keepassxc-cli; then
  cmds+=(-n "keepassxc-cli import" "printf '%s\n%s\n' '$MASTER' '$MASTER' | keepassxc-cli import -q -p '$XML' '$KDBX' >/dev/null")
else
  log "keepassxc-cli not available: skipping it"
fi

header "import of $N entries into a new profile / database"
hf "$RUN_DIR/import.json" -S bash --prepare "$fresh; rm -f '$KDBX'" "${cmds[@]}"
print_table "$RUN_DIR/import.json"

csv_ms="$(median_ms "$RUN_DIR/import.json" "kpm import csv")"
xml_ms="$(median_ms "$RUN_DIR/import.json" "kpm import keepass-xml")"
printf '\n'
value "kpm import, $N entries from CSV" "$(awk -v n="$N" -v ms="$csv_ms" 'BEGIN { printf "%d", n / (ms / 1000) }')" "entries/s"
value "kpm import, $N entries from KeePass XML" "$(awk -v n="$N" -v ms="$xml_ms" 'BEGIN { printf "%d", n / (ms / 1000) }')" "entries/s"
value "kpm import, $N entries from CSV: wall time" "$(awk -v ms="$csv_ms" 'BEGIN { printf "%.2f", ms / 1000 }')" "s" "< 5 s" 5
if have keepassxc-cli; then
  ratio "kpm import keepass-xml / keepassxc-cli import" "$xml_ms" "$(median_ms "$RUN_DIR/import.json" "keepassxc-cli import")"
fi
