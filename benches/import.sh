#!/usr/bin/env bash
# Importing an operator list of 1,000,000 prefixes into the SQLite catalog:
# `perimeter catalog import` (parse, check every row, diff against the current list,
# apply in one transaction with history) beside a baseline in the same run: the sqlite3
# shell's `.import` of the same CSV into a table with the same indexes and no checks.
#
#   benches/import.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
command -v sqlite3 >/dev/null || { echo "sqlite3 (Debian package sqlite3) is needed for the baseline" >&2; exit 1; }
cargo build --release -q
bin=$PWD/target/release/perimeter
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work" "$rows" <<'PY'
import random, sys
work, rows = sys.argv[1], int(sys.argv[2])
random.seed(1)
def check(first11):
    d = [int(c) for c in first11]
    s = sum(a * b for a, b in zip(d, range(1, 12))) % 11
    if s == 10:
        s = sum(a * b for a, b in zip(d, [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2])) % 11
    return None if s == 10 else first11 + str(s)
bins, i = [], 0
while len(bins) < 200:
    b = check('9801400%04d' % i); i += 1
    if b: bins.append(b)
open(f'{work}/bins.txt', 'w').write('\n'.join(bins) + '\n')
seen = set()
with open(f'{work}/list.csv', 'w') as out:
    out.write('prefix,bin,comment\n')
    n = 0
    while n < rows:
        a = random.randrange(1 << 24)
        top = a >> 16
        if top in (0, 127) or top >= 224 or (top == 169 and (a >> 8) & 255 == 254) or a in seen:
            continue
        seen.add(a)
        out.write('%d.%d.%d.0/24,%s,\n' % (a >> 16, (a >> 8) & 255, a & 255, bins[n % 200]))
        n += 1
PY

export PERIMETER_DATA_DIR=$work/data PERIMETER_STORE_URL=
"$bin" operator add bench >/dev/null
while read -r b; do "$bin" org add --bin "$b" --name "Org $b" --operator bench >/dev/null; done <"$work/bins.txt"

measure() { /usr/bin/time -f "%e s wall, %U s user, %S s sys, %M KiB max RSS" "$@"; }
echo "== perimeter catalog import, $rows rows (first import)"
measure "$bin" catalog import --operator bench "$work/list.csv" --summary
echo "== perimeter catalog import, same list again (diff only, nothing to change)"
measure "$bin" catalog import --operator bench "$work/list.csv" --summary
echo "== baseline: sqlite3 .import of the same CSV into an indexed table, no checks"
cat >"$work/baseline.sql" <<SQL
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE a (prefix TEXT NOT NULL, bin TEXT NOT NULL, comment TEXT);
CREATE UNIQUE INDEX a_prefix ON a (prefix);
CREATE INDEX a_bin ON a (bin);
.mode csv
.import --skip 1 $work/list.csv a
SQL
measure sqlite3 "$work/baseline.db" <"$work/baseline.sql"
