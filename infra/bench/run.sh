#!/usr/bin/env bash
# Runs a benchmark (default: all) against one throwaway PostgreSQL and writes its figures to
# docs/benchmarks.md. Benchmarks are not tests: run them on demand, on an otherwise idle machine.
#   infra/bench/run.sh [propagation] [--writes N]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
source infra/postgres.sh

work=$(mktemp -d /tmp/proxyplatform-bench.XXXXXX)
chmod 755 "$work"
cleanup() { [ -n "${started_pg:-}" ] && pg_local_stop "$work/pg"; rm -rf "$work"; }
trap cleanup EXIT

if [ -z "${PROXYPLATFORM_TEST_POSTGRES:-}" ]; then
  port=$(pg_local_free_port)
  # Durable as in production: fsync and synchronous commit stay on.
  pg_local_start "$work/pg" "$port"
  started_pg=1
  export PROXYPLATFORM_TEST_POSTGRES="Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres"
fi

dotnet build ProxyPlatform.sln -c Release -nologo -v quiet
dotnet infra/bench/ProxyPlatform.Bench/bin/Release/net10.0/ProxyPlatform.Bench.dll "$@"
