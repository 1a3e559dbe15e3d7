#!/usr/bin/env bash
# Runs every test suite against one PostgreSQL for the whole run, then prints "N passed, N failed".
# Uses PROXYPLATFORM_TEST_POSTGRES when it is set; otherwise starts a throwaway local cluster.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source infra/postgres.sh
# postgres.sh turns on errexit for its own callers; this script must outlive a failing test run to
# print its summary, so it handles every status itself.
set +e

work=$(mktemp -d /tmp/proxyplatform-test.XXXXXX)
chmod 755 "$work"
cleanup() {
  if [ -n "${started_pg:-}" ]; then pg_local_stop "$work/pg"; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -z "${PROXYPLATFORM_TEST_POSTGRES:-}" ]; then
  pg_local_reserve_port || exit 1
  port=$pg_local_port
  PG_LOCAL_EXTRA_OPTS="-c fsync=off -c synchronous_commit=off -c full_page_writes=off" pg_local_start "$work/pg" "$port" || exit 1
  started_pg=1
  export PROXYPLATFORM_TEST_POSTGRES="Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres"
fi

# What the tests use from Debian, installed when missing and we may (root with apt-get); otherwise the
# tests that need it say so. apt-get update runs once, and only when something is missing.
apt_updated=""
install_missing() { # PACKAGES WHAT-FOR IF-NOT
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing $1 $2..." >&2
    { { [ -n "$apt_updated" ] || apt-get update -qq; } && apt_updated=1 \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $1; } >&2 \
      || echo "Could not install $1; $3." >&2
  else
    echo "$1 is not installed (apt-get install $1); $3." >&2
  fi
}
# Debian's httpbin, a real backend for the proxy tests.
/usr/bin/python3 -c "import httpbin" 2>/dev/null || python3 -c "import httpbin" 2>/dev/null \
  || install_missing python3-httpbin "for the proxy tests" "the tests that need it will say so"
# Debian's pebble, a real ACME server.
{ [ -x /usr/bin/pebble ] && [ -x /usr/bin/pebble-challtestsrv ]; } \
  || install_missing pebble "for the ACME tests" "the ACME tests will say so"
# The control plane's build copies the console's chart.js and js-yaml from npm (package-lock.json).
command -v npm >/dev/null || install_missing "nodejs npm" "for the console's assets" "the control plane will not build"
# The console tests drive Debian's chromium headless (Playwright with its executable path; no browser is downloaded).
[ -x /usr/bin/chromium ] || install_missing chromium "for the console tests" "the console tests will say so"

dotnet build ProxyPlatform.sln -c Release -nologo -v quiet || { echo "0 passed, 1 failed"; exit 1; }
dotnet test ProxyPlatform.sln -c Release --no-build -nologo \
  --logger "trx" --logger "console;verbosity=normal" --results-directory "$work/results" "$@"
status=$?

summary=$(python3 - "$work/results" "$work/failures.txt" 2>&1 <<'PY'
import glob, sys, xml.etree.ElementTree as ET
passed = failed = 0
files = glob.glob(sys.argv[1] + "/*.trx")
with open(sys.argv[2], "w") as out:
    for path in files:
        for result in ET.parse(path).getroot().findall(".//{*}UnitTestResult"):
            if result.get("outcome") not in ("Passed", "NotExecuted"):
                message = result.find(".//{*}Message")
                text = (message.text or "").strip().splitlines() if message is not None else []
                out.write(f"FAILED {result.get('testName')}: {' | '.join(text[:3])[:600]}\n")
for path in files:
    counters = ET.parse(path).getroot().find(".//{*}ResultSummary/{*}Counters")
    if counters is not None:
        passed += int(counters.get("passed", 0))
        failed += int(counters.get("failed", 0)) + int(counters.get("error", 0)) + int(counters.get("timeout", 0)) + int(counters.get("aborted", 0))
if not files:
    failed += 1
print(f"{passed} passed, {failed} failed")
PY
)
if ! grep -qE '^[0-9]+ passed, [0-9]+ failed$' <<<"$summary"; then
  echo "Could not read the test results: $summary" >&2
  summary="0 passed, 1 failed"
  [ "$status" -ne 0 ] || status=1
fi
# The failures again, last, where a truncated CI log still shows them.
[ -s "$work/failures.txt" ] && cat "$work/failures.txt" >&2
echo "dotnet test exited with $status" >&2
echo "$summary"
exit $status
