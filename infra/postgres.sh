#!/usr/bin/env bash
# Starts and stops a throwaway PostgreSQL from the machine's own binaries (no Docker needed): the one
# way this project bootstraps a local server, for infra/run.sh, infra/test.sh, the benchmarks and the
# C# test fixture alike. PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
#   source infra/postgres.sh; pg_local_start DIR PORT; pg_local_stop DIR
#   infra/postgres.sh bindir | start DIR PORT | stop DIR [fast|immediate]
set -euo pipefail

pg_local_bindir() {
  if [ -n "${PG_LOCAL_BIN:-}" ]; then
    echo "$PG_LOCAL_BIN"
    return
  fi
  local dir candidate
  # The newest versioned installation (Debian's, then PGDG's RPM layout), pg_config's, then PATH's.
  dir=$( { ls -d /usr/lib/postgresql/*/bin /usr/pgsql-*/bin 2>/dev/null || true; } | sort -V | tail -n 1)
  if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
    dir=""
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
      dir=$(pg_config --bindir)
    elif candidate=$(command -v initdb 2>/dev/null); then
      dir=$(dirname "$(readlink -f "$candidate")")
    fi
  fi
  if [ -z "$dir" ] || [ ! -x "$dir/initdb" ] || [ ! -x "$dir/pg_ctl" ]; then
    echo "No PostgreSQL server binaries found (looked in /usr/lib/postgresql/*/bin, /usr/pgsql-*/bin, pg_config --bindir and PATH)." >&2
    echo "Install them (apt-get install postgresql) or set ConnectionStrings__Postgres." >&2
    return 1
  fi
  echo "$dir"
}

pg_local_as_owner() {
  if [ "$(id -u)" = "0" ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# pg_local_start DIR PORT: initialises DIR on first use, starts the server on 127.0.0.1:PORT.
pg_local_start() {
  local dir=$1 port=$2 bin
  bin=$(pg_local_bindir)
  PG_LOCAL_BIN=$bin
  mkdir -p "$dir"
  if [ "$(id -u)" = "0" ]; then
    chown postgres: "$dir"
    chmod 700 "$dir"
  fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    pg_local_as_owner "$bin/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 --no-sync >"$dir.initdb.log" 2>&1 \
      || { cat "$dir.initdb.log" >&2; return 1; }
  fi
  pg_local_as_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c max_connections=300 ${PG_LOCAL_EXTRA_OPTS:-}" \
    start >/dev/null
}

# pg_local_stop DIR [fast|immediate]. Safe to call from a signal trap: it runs no command
# substitution once pg_local_start has resolved the binaries (a substitution interrupted by Ctrl-C
# would fail).
pg_local_stop() {
  local dir=$1 mode=${2:-fast} bin=${PG_LOCAL_BIN:-}
  [ -n "$bin" ] || bin=$(pg_local_bindir)
  if [ -f "$dir/postmaster.pid" ]; then
    pg_local_as_owner "$bin/pg_ctl" -D "$dir" -m "$mode" -w stop >/dev/null 2>&1 || true
  fi
}

# pg_local_reserve_port: sets pg_local_port to a port for a throwaway server, reserved the way the
# test suites reserve theirs (tests/ProxyPlatform.Testing/ReservedPorts.cs): outside the kernel's
# ephemeral range (no outgoing connection can take it), free to bind now, and locked with flock on
# /tmp/proxyplatform-ports/PORT through a descriptor this shell keeps open. The descriptor is
# inherited by what the shell starts (the server included), so no other test run on the machine
# takes the port until all of them have exited. Call it directly, not in $(...): a subshell would
# release the lock when it ends.
pg_local_reserve_port() {
  local dir=/tmp/proxyplatform-ports low high from=20000 to=29999 port fd i count start
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir" && chmod 1777 "$dir" 2>/dev/null || true
  fi
  read -r low high </proc/sys/net/ipv4/ip_local_port_range
  if ((from >= low && to <= high)); then from=1024 to=65535; fi
  count=$((to - from + 1))
  start=$((RANDOM % count))
  for ((i = 0; i < count; i++)); do
    port=$((from + (start + i) % count))
    if ((port >= low && port <= high)); then continue; fi
    # Another user's lock file is not ours to open.
    if [ -e "$dir/$port" ] && [ ! -w "$dir/$port" ]; then continue; fi
    exec {fd}>>"$dir/$port" || continue
    if flock -n "$fd" && python3 -c 'import socket, sys
s = socket.socket()
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen()' "$port" 2>/dev/null; then
      pg_local_port=$port
      pg_local_port_lock=$fd
      return 0
    fi
    exec {fd}>&-
  done
  echo "No free port to reserve outside the ephemeral range ($low-$high)." >&2
  return 1
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-}" in
    bindir) pg_local_bindir ;;
    start) pg_local_start "$2" "$3" ;;
    stop) pg_local_stop "$2" "${3:-fast}" ;;
    *) echo "usage: $0 bindir | start DIR PORT | stop DIR [fast|immediate]" >&2; exit 2 ;;
  esac
fi
