#!/usr/bin/env bash
# Runs the platform locally: PostgreSQL (a local cluster under .local/ unless
# ConnectionStrings__Postgres is set) and one control plane, which starts the data-plane workers
# itself (the Process provider): this sets the `default` pool to 1 replica through the admin API, and
# the first worker takes the proxy port 8080 (ops 9090, TLS 8443), the next ones the ports after.
# The control plane never runs without credentials: on first run this generates an operator key
# and a worker token under .local/ (mode 0600) and prints the key. Ctrl-C (or SIGTERM) stops
# everything it started, the workers included.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source infra/postgres.sh

ADMIN_URL=${ADMIN_URL:-http://127.0.0.1:5100}
GRPC_URL=${GRPC_URL:-http://127.0.0.1:5101}
CP_OPS_URL=${CP_OPS_URL:-http://127.0.0.1:5102}
# The workers' ports (first-last): slot 0 of `default` gets the first of each.
WORKER_PORTS=${WORKER_PORTS:-8080-8179}
WORKER_OPS_PORTS=${WORKER_OPS_PORTS:-9090-9189}
WORKER_HTTPS_PORTS=${WORKER_HTTPS_PORTS:-8443-8542}
WORKER_ADDRESS=${WORKER_ADDRESS:-127.0.0.1}
REPLICAS=${REPLICAS:-1}
PG_PORT=${PG_PORT:-55432}
local_dir="$root/.local"
mkdir -p "$local_dir"
chmod 755 "$local_dir"

# secret FILE: the secret kept in FILE, generated (256 random bits) on first use, readable by its owner only.
secret() {
  if [ ! -s "$1" ]; then
    (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '=+/\n' >"$1")
  fi
  cat "$1"
}
OPERATOR_KEY=$(secret "$local_dir/operator-key")
# The key that encrypts private keys at rest (Secrets:Keys): base64 of 32 random bytes, kept like the others.
if [ ! -s "$local_dir/secrets-key" ]; then
  (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '\n' >"$local_dir/secrets-key")
fi
SECRETS_KEY=$(cat "$local_dir/secrets-key")
WORKER_TOKEN=$(secret "$local_dir/dataplane-token")

workers_dir="$local_dir/workers"

# The worker processes the control plane started for this checkout: their command line names their
# data directory under .local/workers (they run in sessions of their own, not as our children).
worker_pids() {
  local f
  for f in /proc/[0-9]*/cmdline; do
    if { tr '\0' '\n' <"$f"; } 2>/dev/null | grep -qx -- "--DataPlane:DataDir=$workers_dir/.*"; then
      f=${f#/proc/}; echo "${f%/cmdline}"
    fi
  done
}

pids=()
cleanup() {
  # Ctrl-C reaches the whole process group: a subshell caught in the middle of a command
  # substitution inherits this trap, and must leave the clean-up to the script itself.
  [ "$BASHPID" = "$$" ] || exit 130
  [ -z "${cleaning:-}" ] || return 0
  cleaning=1
  trap '' INT TERM
  set +e
  echo "Stopping..."
  # The control plane first, so that it restarts no worker; then the workers it started.
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  done
  workers=$(worker_pids)
  for pid in $workers; do kill "$pid" 2>/dev/null; done
  for pid in $workers; do
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  done
  if [ -n "${started_pg:-}" ]; then pg_local_stop "$local_dir/postgres"; fi
  echo "Stopped."
}
trap cleanup INT TERM EXIT

if [ -z "${ConnectionStrings__Postgres:-}" ]; then
  pg_local_start "$local_dir/postgres" "$PG_PORT"
  started_pg=1
  pg_local_as_owner "$(pg_local_bindir)/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='proxyplatform'" | grep -q 1 \
    || pg_local_as_owner "$(pg_local_bindir)/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres proxyplatform
  export ConnectionStrings__Postgres="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Database=proxyplatform"
  echo "PostgreSQL: local cluster in .local/postgres on port $PG_PORT"
fi

dotnet build ProxyPlatform.sln -c Release -nologo -v quiet
cp_dll=controlplane/ProxyPlatform.ControlPlane/bin/Release/net10.0/ProxyPlatform.ControlPlane.dll
dp_dll=dataplane/ProxyPlatform.DataPlane/bin/Release/net10.0/ProxyPlatform.DataPlane.dll
# Workers left from a run that could not clean up (kill -9) are adopted by the control plane, not duplicated.

wait_for() {
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "Timed out waiting for $1" >&2
  return 1
}

# Secrets go in through the environment, not the command line other users can read in ps.
Auth__OperatorKey=$OPERATOR_KEY Auth__DataPlaneToken=$WORKER_TOKEN \
  Secrets__Keys__0__Id=local Secrets__Keys__0__Key=$SECRETS_KEY \
  dotnet "$cp_dll" --Admin:Url="$ADMIN_URL" --Grpc:Url="$GRPC_URL" --Ops:Url="$CP_OPS_URL" \
  --Scaling:Provider=Process --Scaling:Process:WorkerPath="$root/$dp_dll" --Scaling:Process:DataDir="$workers_dir" \
  --Scaling:Process:PortRange="$WORKER_PORTS" --Scaling:Process:OpsPortRange="$WORKER_OPS_PORTS" \
  --Scaling:Process:HttpsPortRange="$WORKER_HTTPS_PORTS" --Scaling:Process:ListenAddress="$WORKER_ADDRESS" &
pids+=($!)
wait_for "$CP_OPS_URL/healthz"

# A merge patch: the pool's limits, if any were set, stay as they are.
curl -fsS -o /dev/null -X PATCH "$ADMIN_URL/v1/pools/default" -H "Authorization: Bearer $OPERATOR_KEY" \
  -H 'Content-Type: application/merge-patch+json' -d "{\"replicas\": $REPLICAS}"
# Ready: connected, up to date, and answering /readyz.
pool_json() { curl -fsS "$ADMIN_URL/v1/pools/default" -H "Authorization: Bearer $OPERATOR_KEY"; }
for _ in $(seq 1 300); do
  ready=$(pool_json | grep -o '"readyReplicas":[0-9]*' | cut -d: -f2)
  [ "${ready:-0}" -ge "$REPLICAS" ] && break
  sleep 0.2
done
PROXY_URLS=$(pool_json | grep -o '"proxyUrl":"[^"]*"' | cut -d'"' -f4 | sort -u | paste -sd' ')
OPS_URLS=$(pool_json | grep -o '"opsUrl":"[^"]*"' | cut -d'"' -f4 | sort -u | sed 's|$|/readyz|' | paste -sd' ')

cat <<MSG

ProxyPlatform is running.
  Admin REST API : $ADMIN_URL/v1/tenants
  Admin gRPC     : $GRPC_URL (h2c, server reflection on)
  Operator key   : $OPERATOR_KEY   (kept in .local/operator-key; send it as: Authorization: Bearer <key>)
  Control ops    : $CP_OPS_URL/healthz, $CP_OPS_URL/readyz, $CP_OPS_URL/metrics
  Workers        : pool default, $REPLICAS replica(s): scale with
                   curl -X PATCH $ADMIN_URL/v1/pools/default -H "Authorization: Bearer \$KEY" \\
                     -H 'Content-Type: application/merge-patch+json' -d '{"replicas": 3}'
  Proxy          : ${PROXY_URLS:-"(no worker ready yet: GET /v1/pools/default)"}  (TLS on the ports from ${WORKER_HTTPS_PORTS%-*}: tenants' certificates by SNI)
  Worker ops     : ${OPS_URLS:-"-"}
Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}"
