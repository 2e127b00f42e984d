# Shared by the bench/*.sh scripts (sourced, not run). Benchmarks are scripts, never tests: they
# print timings and ratios against peers measured in the same run, and nothing here fails on a
# timing. Knobs (environment):
#   BENCH_RUNS=10 BENCH_WARMUP=3   hyperfine runs / warm-up runs per command
#   BENCH_NO_BUILD=1               do not run `npm run build` first (measure dist/ as it is)
#   BENCH_KEEP=1                   keep the run folder (bench/.work/run.*) for inspection
#   BENCH_NO_INSTALL=1             never call apt-get; peers that are missing are skipped
#   BENCH_SUMMARY=FILE             also append "key<TAB>value<TAB>target" lines here (all.sh sets it)

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO="$(cd "$BENCH_DIR/.." && pwd)"
KPM="$REPO/bin/kpm"
WORK_ROOT="$BENCH_DIR/.work"
RUNS="${BENCH_RUNS:-10}"
WARMUP="${BENCH_WARMUP:-3}"
MASTER='bench master password 1'
POPULATE="$WORK_ROOT/populate.mjs"
mkdir -p "$WORK_ROOT"

log() { printf '\033[2m[bench]\033[0m %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- tools

_apt_updated=0
_as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi
}

# ensure_tools CMD:PACKAGE ... — installs the Debian packages of missing commands (apt-get update
# once per script). A package without an install candidate is reported and skipped.
ensure_tools() {
  local want=() spec cmd pkg
  for spec in "$@"; do
    cmd="${spec%%:*}"; pkg="${spec#*:}"
    command -v "$cmd" >/dev/null 2>&1 || want+=("$pkg")
  done
  [ "${#want[@]}" -eq 0 ] && return 0
  if [ -n "${BENCH_NO_INSTALL:-}" ] || ! command -v apt-get >/dev/null; then
    log "missing (not installing): ${want[*]}"; return 0
  fi
  if [ "$_apt_updated" = 0 ]; then
    log "apt-get update"
    _as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || log "apt-get update failed"
    _apt_updated=1
  fi
  local ok=()
  for pkg in "${want[@]}"; do
    if apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [0-9]'; then ok+=("$pkg"); else log "no Debian package '$pkg' available; skipping it"; fi
  done
  [ "${#ok[@]}" -eq 0 ] && return 0
  log "apt-get install -y ${ok[*]}"
  _as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${ok[@]}" >/dev/null 2>&1 || log "apt-get install failed for some of: ${ok[*]}"
}

have() { command -v "$1" >/dev/null 2>&1; }

# The core tools every script needs.
ensure_core() {
  ensure_tools hyperfine:hyperfine jq:jq /usr/bin/time:time
  have hyperfine || die "hyperfine is required"
  have jq || die "jq is required"
}

# ---------------------------------------------------------------- kpm build and helpers

build_kpm() {
  if [ -z "${BENCH_NO_BUILD:-}" ]; then
    log "npm run build"
    (cd "$REPO" && npm run build --silent >/dev/null 2>"$WORK_ROOT/build.log") || { cat "$WORK_ROOT/build.log" >&2; die "npm run build failed"; }
  fi
  [ -f "$REPO/dist/kpm.mjs" ] || die "dist/kpm.mjs missing: run npm run build"
  bundle_helper populate
}

# bundle_helper NAME — bundles bench/lib/NAME.ts (which imports kpm's src/) into bench/.work/NAME.mjs.
# The output must sit inside the repo so that `argon2` (left external) resolves from node_modules.
bundle_helper() {
  "$REPO/node_modules/.bin/esbuild" "$BENCH_DIR/lib/$1.ts" --bundle --platform=node --format=esm \
    --external:argon2 --log-level=warning --outfile="$WORK_ROOT/$1.mjs" || die "could not bundle bench/lib/$1.ts"
}

# A fresh folder for this run, removed on exit (with every agent and gpg-agent we started).
RUN_DIR=""
_kpm_homes=()
_gnupg_homes=()
new_run_dir() {
  RUN_DIR="$(mktemp -d "$WORK_ROOT/run.XXXXXX")"
  chmod 700 "$RUN_DIR"
  printf '%s\n' "$MASTER" >"$RUN_DIR/master.txt"
  trap cleanup EXIT
  trap 'exit 130' INT TERM
}

cleanup() {
  local h pid
  for h in "${_kpm_homes[@]}"; do
    KPM_HOME="$h" "$KPM" lock >/dev/null 2>&1 || true
    for pid in "$h"/run/agent.pid; do
      [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
    done
  done
  for h in "${_gnupg_homes[@]}"; do GNUPGHOME="$h" gpgconf --kill gpg-agent >/dev/null 2>&1 || true; done
  if [ -n "$RUN_DIR" ] && [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$RUN_DIR"; fi
}

# make_kpm_home DIR N — a profile with the default KDF and N entries site0..site<N-1>.
make_kpm_home() {
  local home="$1" n="$2" info
  _kpm_homes+=("$home")
  info="$(KPM_HOME="$home" KPM_BENCH_PASSWORD="$MASTER" node "$POPULATE" kpm --count "$n")" || die "populate failed"
  log "kpm vault with $n entries: $info"
}

kpm_unlock() { # kpm_unlock HOME
  KPM_HOME="$1" "$KPM" unlock --password-stdin --timeout 60 <"$RUN_DIR/master.txt" >/dev/null 2>&1 || die "kpm unlock failed in $1"
}
kpm_lock() { KPM_HOME="$1" "$KPM" lock >/dev/null 2>&1 || true; }

entry_password() { node "$POPULATE" password "$1"; }

# expect_output "what" EXPECTED CMD... — runs the command once and checks its first line of output.
expect_output() {
  local what="$1" want="$2" got; shift 2
  got="$("$@" 2>"$RUN_DIR/expect.err" | head -n 1)" || true
  if [ "$got" != "$want" ]; then
    log "$what: expected '$want', got '$got'"; sed 's/^/    /' "$RUN_DIR/expect.err" >&2
    return 1
  fi
}

# ---------------------------------------------------------------- peers (cached: they do not depend on kpm)

# make_pass_store N — sets GNUPGHOME and PASSWORD_STORE_DIR to a pass store with the same N entries,
# encrypted to a passphrase-less key. Kept in bench/.work/peers-N/ between runs.
# add_pass_peer N NAME WANT — the pass store of N entries, gpg-agent warmed, `pass show NAME` checked
# to print WANT and appended to the array `peers` (hyperfine -n arguments). Fails when pass or gpg
# is missing.
add_pass_peer() {
  have pass && have gpg || return 1
  make_pass_store "$1"
  gpg --batch --quiet --decrypt "$PASSWORD_STORE_DIR/$2.gpg" >/dev/null 2>&1 # warm gpg-agent
  expect_output "pass show" "$3" pass show "$2" && peers+=(-n "pass show" "pass show $2")
  return 0
}

make_pass_store() {
  local n="$1" dir="$WORK_ROOT/peers-$1"
  export GNUPGHOME="$dir/gnupg" PASSWORD_STORE_DIR="$dir/store"
  _gnupg_homes+=("$GNUPGHOME")
  if [ ! -f "$dir/pass.done" ]; then
    log "creating a $n-entry pass store (one gpg process, --encrypt-files; takes a while once)"
    rm -rf "$GNUPGHOME" "$PASSWORD_STORE_DIR" "$dir/plain"
    mkdir -p "$dir" && mkdir -m 700 "$GNUPGHOME"
    gpg --batch --quiet --passphrase '' --quick-gen-key 'kpm bench <bench@example.invalid>' future-default default never 2>/dev/null
    local fpr
    fpr="$(gpg --list-secret-keys --with-colons 2>/dev/null | awk -F: '/^fpr/{print $10; exit}')"
    pass init "$fpr" >/dev/null
    node "$POPULATE" pass-plain "$dir/plain" --count "$n"
    # Two gpg processes in parallel, each encrypting half of the files (FILE → FILE.gpg).
    (cd "$dir/plain" && ls | xargs -n $(((n + 1) / 2)) -P 2 gpg --batch --quiet --yes --trust-model always -r "$fpr" --encrypt-files 2>/dev/null)
    mv "$dir/plain"/*.gpg "$PASSWORD_STORE_DIR"/ 2>/dev/null || find "$dir/plain" -name '*.gpg' -exec mv -t "$PASSWORD_STORE_DIR" {} +
    rm -rf "$dir/plain"
    [ "$(find "$PASSWORD_STORE_DIR" -name '*.gpg' | wc -l)" = "$n" ] || die "pass store: expected $n entries"
    touch "$dir/pass.done"
  fi
  # gopass (Debian's is aviau/gopass) reads PASSWORD_STORE_DIR; keep its config out of $HOME.
  export XDG_CONFIG_HOME="$dir/xdg"
  mkdir -p "$XDG_CONFIG_HOME"
}

# make_kdbx N — prints the path of a KeePass database (password $MASTER) with the same N entries,
# made by `keepassxc-cli import` of a KeePass 2 XML file (KeePassXC's default KDF for new files).
make_kdbx() {
  local n="$1" dir="$WORK_ROOT/peers-$1"
  mkdir -p "$dir"
  if [ ! -f "$dir/kdbx.done" ]; then
    log "creating a $n-entry KeePass database"
    node "$POPULATE" keepass-xml "$dir/db.xml" --count "$n"
    rm -f "$dir/db.kdbx"
    printf '%s\n%s\n' "$MASTER" "$MASTER" | keepassxc-cli import -q -p "$dir/db.xml" "$dir/db.kdbx" >/dev/null 2>&1 || die "keepassxc-cli import failed"
    rm -f "$dir/db.xml"
    touch "$dir/kdbx.done"
  fi
  printf '%s\n' "$dir/db.kdbx"
}

# ---------------------------------------------------------------- timing

# hf OUT.json [hyperfine options] -n NAME CMD ... — hyperfine with this run's settings; -N unless
# the caller passes -S. Output is kept quiet; results are read from the JSON.
hf() {
  local out="$1"; shift
  local shell=(-N)
  local a
  for a in "$@"; do case "$a" in -S|--shell|--shell=*) shell=();; esac; done
  hyperfine "${shell[@]}" --warmup "$WARMUP" --runs "$RUNS" --style none --export-json "$out" "$@" >/dev/null 2>"$out.err" \
    || { cat "$out.err" >&2; die "hyperfine failed ($out)"; }
}

# now_ms, timed CMD… (wall milliseconds of one run, output dropped, dies on failure) and median
# (of numbers on stdin): for the loops that time commands without hyperfine (sync.sh, sharefiles.sh).
now_ms() { date +%s%N | awk '{ printf "%.1f", $1 / 1e6 }'; }
timed() { # timed CMD... — wall milliseconds of one run
  local t0 t1
  t0=$(now_ms)
  "$@" >/dev/null 2>"$RUN_DIR/timed.err" || { cat "$RUN_DIR/timed.err" >&2; die "failed: $*"; }
  t1=$(now_ms)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f", m }'; }

# median_ms FILE NAME — median in milliseconds of the command named NAME in a hyperfine JSON file.
median_ms() {
  jq -r --arg n "$2" '.results[] | select(.command == $n) | .median * 1000 | . * 10 | round / 10' "$1"
}

# Prints every command of hyperfine JSON files as a table row: median, mean ± sd, min, max and
# CPU (mean user + system) in ms. CPU time suffers less than wall time when the machine is busy.
print_table() {
  printf '%-44s %9s %16s %9s %9s %9s\n' 'command' 'median' 'mean ± sd' 'min' 'max' 'cpu'
  jq -r '.results[] | [.command, .median, .mean, (.stddev // 0), .min, .max, (.user + .system)] | @tsv' "$@" |
    awk -F'\t' '{ printf "%-44s %7.1f ms %7.1f ± %5.1f %6.1f ms %6.1f ms %6.1f ms\n", $1, $2*1000, $3*1000, $4*1000, $5*1000, $6*1000, $7*1000 }'
}

# ratio LABEL NUM_MS DEN_MS [TARGET_TEXT] [MAX] — prints NUM/DEN and whether it is within MAX.
ratio() {
  local label="$1" num="$2" den="$3" target="${4:-}" max="${5:-}"
  if [ -z "$num" ] || [ -z "$den" ] || [ "$num" = null ] || [ "$den" = null ]; then
    printf '  %-46s %s\n' "$label" "n/a"; summary "$label" "n/a" "$target"; return
  fi
  local r verdict=""
  r="$(awk -v a="$num" -v b="$den" 'BEGIN { printf "%.2f", a / b }')"
  if [ -n "$max" ]; then
    verdict="$(awk -v r="$r" -v m="$max" 'BEGIN { print (r <= m) ? "meets target" : "MISSES target" }')"
  fi
  printf '  %-46s %6s×   (%s / %s ms)  %s %s\n' "$label" "$r" "$num" "$den" "${target:+target $target}" "${verdict:+— $verdict}"
  summary "$label" "${r}×" "$target" "$verdict"
}

# value LABEL VALUE UNIT [TARGET_TEXT] [MAX] — a plain measured value, optionally against a maximum.
value() {
  local label="$1" v="$2" unit="$3" target="${4:-}" max="${5:-}" verdict=""
  if [ -n "$max" ] && [ -n "$v" ]; then
    verdict="$(awk -v r="$v" -v m="$max" 'BEGIN { print (r <= m) ? "meets target" : "MISSES target" }')"
  fi
  printf '  %-46s %8s %-4s %s %s\n' "$label" "$v" "$unit" "${target:+target $target}" "${verdict:+— $verdict}"
  summary "$label" "$v $unit" "$target" "$verdict"
}

summary() {
  [ -n "${BENCH_SUMMARY:-}" ] || return 0
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "${3:-}" "${4:-}" >>"$BENCH_SUMMARY"
}

# peak_rss_mib N CMD... — the largest peak RSS (MiB) over N runs, from GNU time.
peak_rss_mib() {
  local n="$1" i kib max=0; shift
  for ((i = 0; i < n; i++)); do
    kib="$(/usr/bin/time -f '%M' -o "$RUN_DIR/rss.txt" "$@" >/dev/null 2>&1 </dev/null; tail -n 1 "$RUN_DIR/rss.txt")"
    [ "$kib" -gt "$max" ] && max="$kib"
  done
  awk -v k="$max" 'BEGIN { printf "%.1f", k / 1024 }'
}

# peak_rss_mib_stdin N FILE CMD... — the same with stdin from FILE.
peak_rss_mib_stdin() {
  local n="$1" in="$2" i kib max=0; shift 2
  for ((i = 0; i < n; i++)); do
    kib="$(/usr/bin/time -f '%M' -o "$RUN_DIR/rss.txt" "$@" >/dev/null 2>&1 <"$in"; tail -n 1 "$RUN_DIR/rss.txt")"
    [ "$kib" -gt "$max" ] && max="$kib"
  done
  awk -v k="$max" 'BEGIN { printf "%.1f", k / 1024 }'
}

header() { printf '\n== %s ==\n' "$*"; }

# One line of context: timings drift with the machine's load, ratios less so.
machine_note() {
  log "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), node $(node --version), hyperfine runs=$RUNS warmup=$WARMUP"
}

# ---------------------------------------------------------------- a loopback kpm-server

# start_kpm_server — starts bin/kpm-server (SQLite, mail outbox) in $RUN_DIR/server; sets SERVER_URL
# and SRV (its data folder). It is stopped on exit.
start_kpm_server() {
  SRV="$RUN_DIR/server"
  mkdir -p "$SRV"
  node "$REPO/bin/kpm-server" --data-dir "$SRV" --port 0 --log-level warn 2>"$SRV/stderr" >"$SRV/stdout" &
  SRV_PID=$!
  trap 'kill $SRV_PID 2>/dev/null || true; cleanup' EXIT
  for _ in $(seq 100); do grep -qs 'listening on' "$SRV/stderr" && break; sleep 0.1; done
  SERVER_URL="$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$SRV/stderr")"
  [ -n "$SERVER_URL" ] || { cat "$SRV/stderr" >&2; die "kpm-server did not start"; }
  log "kpm-server at $SERVER_URL"
}

# bench_account HOME EMAIL — registers and activates EMAIL on $SERVER_URL (account password
# Bench7Password), then signs HOME in.
bench_account() {
  local home="$1" email="$2" code
  printf 'Bench7Password\n' | KPM_HOME="$home" KPM_SERVER="$SERVER_URL" "$KPM" register --email "$email" --password-stdin --region DE >/dev/null 2>&1 || die "register failed"
  code="$(grep -ho 'activation code: [A-Z2-7-]*' "$SRV"/outbox/*.eml | tail -n 1 | cut -d' ' -f3)"
  printf '%s\n' "$code" | KPM_HOME="$home" KPM_SERVER="$SERVER_URL" "$KPM" activate --code-stdin >/dev/null 2>&1 || die "activate failed"
  bench_login "$home" "$email"
}

bench_login() { # bench_login HOME EMAIL
  printf 'Bench7Password\n' | KPM_HOME="$1" KPM_SERVER="$SERVER_URL" "$KPM" login "$2" --password-stdin >/dev/null 2>&1 || die "login failed in $1"
}
