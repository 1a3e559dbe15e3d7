#!/usr/bin/env bash
# Runs the platform locally: PostgreSQL (a local cluster under .local/ unless
# ConnectionStrings__Postgres is set), one control plane and one data-plane worker.
# The control plane never runs without credentials: on first run this generates an operator key
# and a worker token under .local/ (mode 0600) and prints the key. Ctrl-C stops everything it started.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source infra/postgres.sh

ADMIN_URL=${ADMIN_URL:-http://127.0.0.1:5100}
GRPC_URL=${GRPC_URL:-http://127.0.0.1:5101}
CP_OPS_URL=${CP_OPS_URL:-http://127.0.0.1:5102}
PROXY_URL=${PROXY_URL:-http://127.0.0.1:8080}
OPS_URL=${OPS_URL:-http://127.0.0.1:9090}
HTTPS_URL=${HTTPS_URL:-https://127.0.0.1:8443}
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
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do
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
  dotnet "$cp_dll" --Admin:Url="$ADMIN_URL" --Grpc:Url="$GRPC_URL" --Ops:Url="$CP_OPS_URL" &
pids+=($!)
wait_for "$CP_OPS_URL/healthz"

DataPlane__Token=$WORKER_TOKEN dotnet "$dp_dll" --ControlPlane:Url="$GRPC_URL" --Proxy:Url="$PROXY_URL" --Proxy:HttpsUrl="$HTTPS_URL" --Ops:Url="$OPS_URL" \
  --DataPlane:Id=local-worker --DataPlane:DataDir="$local_dir/worker" &
pids+=($!)
wait_for "$OPS_URL/healthz"

cat <<MSG

ProxyPlatform is running.
  Admin REST API : $ADMIN_URL/v1/tenants
  Admin gRPC     : $GRPC_URL (h2c, server reflection on)
  Operator key   : $OPERATOR_KEY   (kept in .local/operator-key; send it as: Authorization: Bearer <key>)
  Control ops    : $CP_OPS_URL/healthz, $CP_OPS_URL/readyz, $CP_OPS_URL/metrics
  Proxy          : $PROXY_URL, $HTTPS_URL (TLS: tenants' certificates by SNI)
  Worker ops     : $OPS_URL/healthz, $OPS_URL/readyz
Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}"
