#!/usr/bin/env bash
# Peak memory of `perimeter up` while the API takes an operator's list upload: a junk
# file (short lines that are no rows, the worst case for problem reporting) and a valid
# list of 1,000,000 prefixes, each into a fresh server; the peak resident set (VmHWM)
# before and after the upload, the answer's size and time.
#
#   benches/import_memory.sh [JUNK_MIB] [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
junk_mib=${1:-256}
rows=${2:-1000000}
cargo build --release -q
bin=$PWD/target/release/perimeter
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

python3 - "$work" "$rows" "$junk_mib" <<'PY'
import random, sys
work, rows, junk_mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(1)
with open(f'{work}/junk.csv', 'w') as out:
    line = 'x;y;z;w\n'
    out.write(line * (junk_mib * 1024 * 1024 // len(line)))
with open(f'{work}/list.csv', 'w') as out:
    out.write('prefix,bin,comment\n')
    seen, n = set(), 0
    while n < rows:
        a = random.randrange(1 << 24)
        top = a >> 16
        if top in (0, 127) or top >= 224 or (top == 169 and (a >> 8) & 255 == 254) or a in seen:
            continue
        seen.add(a)
        out.write('%d.%d.%d.0/24,980140000015,\n' % (a >> 16, (a >> 8) & 255, a & 255))
        n += 1
PY

# One server per measurement: VmHWM only grows.
run() {
    local name=$1 file=$2 query=$3
    local data=$work/$name
    export PERIMETER_DATA_DIR=$data PERIMETER_STORE_URL=
    "$bin" operator add bench >/dev/null
    "$bin" org add --bin 980140000015 --name "Bench org" --operator bench >/dev/null
    local token
    token=$("$bin" token create "bench-$name" --operator bench)
    cat >"$work/$name.toml" <<TOML
[api]
listen = "127.0.0.1:0"
max_body_mib = 512
[services]
web = false
mail = false
TOML
    "$bin" --config "$work/$name.toml" up >"$work/$name.out" 2>"$work/$name.log" &
    local pid=$!
    for _ in $(seq 100); do grep -q "API on" "$work/$name.out" 2>/dev/null && break; sleep 0.1; done
    local api
    api=$(grep -o 'http://[^ ]*/api/v1' "$work/$name.out")
    local before
    before=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
    local t0=$SECONDS
    curl -sS -o "$work/$name.answer" -w "%{http_code}" -H "Authorization: Bearer $token" -H 'Content-Type: text/csv' \
        --data-binary @"$file" -X PUT "$api/operators/bench/prefixes$query" >"$work/$name.code"
    local after
    after=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
    printf '%-28s %8s MiB upload  HTTP %s  answer %8s bytes  %3s s  peak RSS %6s MiB (idle %s MiB)\n' \
        "$name" "$(($(stat -c %s "$file") >> 20))" "$(cat "$work/$name.code")" "$(stat -c %s "$work/$name.answer")" \
        "$((SECONDS - t0))" "$((after >> 10))" "$((before >> 10))"
    kill "$pid"; wait "$pid" 2>/dev/null || true
}

run junk-dry-run "$work/junk.csv" "?dry_run=true"
run valid-1m-dry-run "$work/list.csv" "?dry_run=true"
run valid-1m-applied "$work/list.csv" ""
