#!/usr/bin/env bash
# Observation ingest over the HTTP API of a running `perimeter up` (release build,
# SQLite store): 100,000 distinct unknown addresses in batches of 10,000, posted twice
# (the second round merges into existing records), timed end to end with curl.
# Baseline in the same run: the sqlite3 shell inserting the same 100,000 rows into an
# indexed table in one transaction, no HTTP, no checks.
#
#   benches/ingest.sh [ADDRESSES]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
command -v sqlite3 >/dev/null || { echo "sqlite3 (Debian package sqlite3) is needed for the baseline" >&2; exit 1; }
cargo build --release -q
bin=$PWD/target/release/perimeter
work=$(mktemp -d)
export PERIMETER_DATA_DIR=$work/data PERIMETER_STORE_URL=
"$bin" operator add bench --link bench-1 >/dev/null
token=$("$bin" token create ingest --duty | grep -o 'pmt_[A-Za-z0-9_]*' | head -n 1)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" up --listen "127.0.0.1:$port" >"$work/up.log" 2>&1 &
up=$!
trap 'kill $up 2>/dev/null; wait $up 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

python3 - "$work" "$n" <<'PY'
import json, sys
work, n = sys.argv[1], int(sys.argv[2])
batch = 10000
for b in range(0, n, batch):
    rows = [{"ip": "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255), "link": "bench-1",
             "first_seen": 1700000000000 + i, "last_seen": 1700000000000 + i, "count": 1}
            for i in range(b, min(b + batch, n))]
    open(f"{work}/batch{b // batch:04d}.json", "w").write(json.dumps(rows))
with open(f"{work}/baseline.sql", "w") as out:
    out.write("PRAGMA journal_mode = WAL;\nPRAGMA synchronous = FULL;\n")
    out.write("CREATE TABLE o (ip TEXT NOT NULL, link TEXT NOT NULL, first_seen INTEGER, last_seen INTEGER, seen INTEGER);\n")
    out.write("CREATE UNIQUE INDEX o_ip ON o (ip);\nBEGIN;\n")
    for i in range(n):
        out.write("INSERT INTO o VALUES ('10.%d.%d.%d', 'bench-1', %d, %d, 1);\n" % (i >> 16 & 255, i >> 8 & 255, i & 255, i, i))
    out.write("COMMIT;\n")
PY

post_all() {
    for f in "$work"/batch*.json; do
        curl -sf -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
            --data-binary @"$f" "http://127.0.0.1:$port/api/v1/observations" >/dev/null
    done
}
measure() { /usr/bin/time -f "%e s wall" "$@"; }
echo "== perimeter: $n distinct unknown addresses over the API (new records)"
measure bash -c "$(declare -f post_all); work=$work token=$token port=$port post_all"
echo "== perimeter: the same $n again (merged into the existing records)"
measure bash -c "$(declare -f post_all); work=$work token=$token port=$port post_all"
echo "records: $("$bin" unknown --json | python3 -c 'import json,sys; u=json.load(sys.stdin); print(len(u), "addresses,", sum(x["seen"] for x in u), "sightings")')"
echo "== baseline: sqlite3 inserting the same $n rows in one transaction"
measure sqlite3 "$work/baseline.db" <"$work/baseline.sql" >/dev/null
