# Sourced by bench/server.sh: a throw-away PostgreSQL cluster on a loopback port (initdb into a
# temporary folder, run as the postgres user when we are root), removed by server_pg_stop.
# Sets SERVER_PG_URL, or leaves it empty when no PostgreSQL is installed.
SERVER_PG_URL=""
_SERVER_PG_TMP=""
_SERVER_PG_CTL=""
_SERVER_PG_AS=()

server_pg_start() {
  local initdb port
  initdb=$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$initdb" ] || ensure_tools /usr/lib/postgresql:postgresql
  initdb=$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$initdb" ] || { log "PostgreSQL is not installed: its rows are skipped"; return 0; }
  initdb=$(readlink -f "$initdb")
  _SERVER_PG_CTL="$(dirname "$initdb")/pg_ctl"
  _SERVER_PG_TMP=$(mktemp -d /tmp/kpm-bench-pg.XXXXXX)
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$_SERVER_PG_TMP"
    _SERVER_PG_AS=(runuser -u postgres --)
  fi
  port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
  "${_SERVER_PG_AS[@]+"${_SERVER_PG_AS[@]}"}" "$initdb" -D "$_SERVER_PG_TMP/data" -U kpm --auth=trust -E UTF8 --no-locale >/dev/null
  "${_SERVER_PG_AS[@]+"${_SERVER_PG_AS[@]}"}" "$_SERVER_PG_CTL" -D "$_SERVER_PG_TMP/data" -l "$_SERVER_PG_TMP/log" -w \
    -o "-p $port -k $_SERVER_PG_TMP -c listen_addresses=127.0.0.1" start >/dev/null
  SERVER_PG_URL="postgres://kpm@127.0.0.1:$port/postgres"
}

server_pg_stop() {
  [ -n "$_SERVER_PG_TMP" ] || return 0
  "${_SERVER_PG_AS[@]+"${_SERVER_PG_AS[@]}"}" "$_SERVER_PG_CTL" -D "$_SERVER_PG_TMP/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$_SERVER_PG_TMP"
  _SERVER_PG_TMP=""
}
