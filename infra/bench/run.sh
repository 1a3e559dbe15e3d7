#!/usr/bin/env bash
# Runs a benchmark (default: all) against one throwaway PostgreSQL and writes its figures to
# docs/benchmarks.md. Benchmarks are not tests: run them on demand, on an otherwise idle machine.
#   infra/bench/run.sh [all|propagation|restart|access|overlap|audit|fanout|apply|scaleup|throughput|ratelimit|tls] [--writes N] [--streams N] [--routes N] [--requests N] [--uncapped]
#                      [--runs N] [--seconds N] [--targets direct,worker,worker-open,yarp,nginx,haproxy] [--rate N]
#                      [--handshakes N] [--certificates N]
# --runs N repeats each benchmark N times (default 3) and reports medians.
# apply: PUTs a 1,000-route configuration document --runs times (default 3): time to answer, time to live on two workers.
# scaleup: PATCH replicas 1 -> 2 with --routes N (default 10,000) loaded, until the new worker is ready and serving.
# overlap: --routes N sets the larger tenant's routes (default 10,000; less only to check that it runs).
# audit: admin writes/s with Audit:Enabled=true and false, interleaved in one run (--writes N per run, default 2000; --runs 3).
# PROXYPLATFORM_BENCH_LOAD_ONLY=10000 infra/bench/run.sh propagation --runs 1 times only the route load.
# PROXYPLATFORM_BENCH_TRACE_SLOW=1 prints each measured write over 25 ms, with its wall-clock and
# monotonic times, to line it up with a trace (perf record -k mono) of the same run.
# throughput needs wrk, nginx and HAProxy, ratelimit needs wrk, tls needs wrk, nginx and h2load; as root the script
# installs what is missing (apt-get).
# infra/bench/run.sh tls --runs 1 --seconds 3 --handshakes 50 --certificates 100 checks that every part gives figures.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
source infra/postgres.sh

scenario=all
[ $# -gt 0 ] && [[ $1 != --* ]] && scenario=$1

# nginx and HAProxy live in /usr/sbin, which is not on every user's PATH.
export PATH="$PATH:/usr/sbin:/sbin"
if [ "$scenario" = all ] || [ "$scenario" = throughput ] || [ "$scenario" = ratelimit ] || [ "$scenario" = tls ]; then
  tools=(wrk nginx haproxy h2load)
  [ "$scenario" = throughput ] && tools=(wrk nginx haproxy)
  [ "$scenario" = ratelimit ] && tools=(wrk)
  [ "$scenario" = tls ] && tools=(wrk nginx h2load)
  missing=()
  for tool in "${tools[@]}"; do
    # h2load comes in Debian's nghttp2-client package.
    package=$tool
    [ "$tool" = h2load ] && package=nghttp2-client
    command -v "$tool" >/dev/null 2>&1 || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "The $scenario benchmark needs ${missing[*]}, which are not installed." >&2
      echo "Install them (apt-get install -y ${missing[*]}) or run this script as root, which installs them." >&2
      exit 1
    fi
    echo "Installing ${missing[*]} for the $scenario benchmark"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

# How busy the machine is before this script adds its build: the figures say when it was not idle.
export PROXYPLATFORM_BENCH_LOADAVG="$(cut -d' ' -f1 /proc/loadavg)"

work=$(mktemp -d /tmp/proxyplatform-bench.XXXXXX)
chmod 755 "$work"
cleanup() { [ -n "${started_pg:-}" ] && pg_local_stop "$work/pg"; rm -rf "$work"; }
trap cleanup EXIT

if [ -z "${PROXYPLATFORM_TEST_POSTGRES:-}" ]; then
  pg_local_reserve_port || exit 1
  port=$pg_local_port
  # Durable as in production: fsync and synchronous commit stay on.
  pg_local_start "$work/pg" "$port"
  started_pg=1
  export PROXYPLATFORM_TEST_POSTGRES="Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres"
fi

dotnet build ProxyPlatform.sln -c Release -nologo -v quiet
# Not in the solution, so that the tests do not build it.
dotnet build infra/bench/ProxyPlatform.Bench.BareYarp -c Release -nologo -v quiet
dotnet infra/bench/ProxyPlatform.Bench/bin/Release/net10.0/ProxyPlatform.Bench.dll "$@"
