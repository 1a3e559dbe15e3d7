#!/usr/bin/env bash
# The chaos suite: faults under steady load against real processes (two silos, two workers, backend
# processes, a PostgreSQL of its own started from the machine's binaries by infra/postgres.sh), each
# scenario printing its failed requests, lost acknowledged writes and recovery time, and a table at
# the end (docs/reliability.md keeps the last one). Not a test: run it on demand.
#   infra/chaos/run.sh [all|SCENARIO[,SCENARIO...]] [--short], a scenario one of: control-plane-down|silo-kill|distribution-silo-kill|postgres-down|backend-killed|
#                       backend-hung|worker-restart|write-storm|network
# --short runs each fault briefly (seconds instead of a minute). The network scenario needs root
# (ip netns, veth, and tc netem or, where the kernel lacks it, iptables) and is skipped, saying so, without it. Exits 1 when a goal was missed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

case " ${*:-all} " in
  *all*|*network*) network=yes ;;
  *) network=no ;;
esac
if [ "$network" = yes ] && [ "$(id -u)" != 0 ]; then
  echo "Not root: the network scenario (a network namespace, tc netem or iptables) will be skipped."
elif [ "$network" = yes ] && ! command -v iptables >/dev/null; then
  # Without netem in the kernel, the network scenario drops packets with iptables' statistic match
  # (without either, it is skipped, saying so).
  { apt-get update -qq && apt-get install -y -qq iptables >/dev/null; } || echo "Could not install iptables."
fi

dotnet build ProxyPlatform.sln -c Release -nologo -v quiet

# The suite runs in a session of its own, so that whatever it started can be stopped with it even if
# it is killed before it cleans up; the namespace it creates is removed as well.
setsid dotnet infra/chaos/ProxyPlatform.Chaos/bin/Release/net10.0/ProxyPlatform.Chaos.dll "$@" &
suite=$!
cleanup() {
  trap '' INT TERM
  if kill -0 "$suite" 2>/dev/null; then
    kill -TERM -- "-$suite" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$suite" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$suite" 2>/dev/null || true
  fi
  if [ "$(id -u)" = 0 ]; then
    ip netns del ppchaos 2>/dev/null || true
    # The host's chain of drops for the namespace's packets (NetworkNamespace.DropAsync).
    if command -v iptables >/dev/null; then
      iptables -D INPUT -i ppchaos0 -j PPCHAOS 2>/dev/null || true
      iptables -F PPCHAOS 2>/dev/null || true
      iptables -X PPCHAOS 2>/dev/null || true
    fi
  fi
}
trap cleanup INT TERM EXIT
status=0
wait "$suite" || status=$?
exit "$status"
