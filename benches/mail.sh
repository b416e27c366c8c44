#!/usr/bin/env bash
# Mail relay throughput with fsync on: our relay (`perimeter up`, release build) and, in
# the same run, a private Postfix instance on this machine. Postfix's own smtp-source
# drives both; both relay to the same smtp-sink. For each message size and session count:
# messages per second accepted and relayed end to end (until the sink has every message
# and the queue is empty), and the machine's CPU per message over that interval (all
# processes: relay, load generator and sink alike, so the two are comparable).
#
#   benches/mail.sh [MESSAGES]        # default 2000 per run; needs postfix (Debian)
#   WATCH=off benches/mail.sh ...     # the same without the traffic watch (its cost)
#   SIZES="5120" SESSIONS="100" benches/mail.sh ...   # a subset of the rows
#   CEILING=off benches/mail.sh ...   # without the reference row (smtp-source straight
#                                     # into smtp-sink: what the load generator and the
#                                     # loopback allow a server that stores nothing)
#   REUSE=on benches/mail.sh ...      # each session sends its messages over one
#                                     # connection (smtp-source -d), as MTAs do, instead
#                                     # of a new connection per message
#   AUTH=on benches/mail.sh ...       # mail authentication's cost instead: DKIM signing
#                                     # and inbound checks on and off, beside Postfix with
#                                     # OpenDKIM as a milter (benches/mail_auth.sh)
set -euo pipefail
[[ ${AUTH:-off} == on ]] && exec "$(dirname "$0")/mail_auth.sh" "$@"
cd "$(dirname "$0")/.."
n=${1:-2000}
command -v smtp-source >/dev/null || { echo "smtp-source (Debian package postfix) is needed" >&2; exit 1; }
cargo build --release -q
bin=$PWD/target/release/perimeter
work=$(mktemp -d)
chmod 755 "$work"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
sink_port=$(free_port) ours_port=$(free_port) api_port=$(free_port) pf_port=$(free_port)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    postfix -c "$work/postfix" stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# The common next hop: a counting sink. It keeps no message (writing one file per
# message caps smtp-sink near 800 msg/s on this machine, below what a relay can send);
# its running counter ("mesg=N") says how many it has accepted.
as_nobody=()
if [[ $(id -u) -eq 0 ]]; then as_nobody=(-u nobody); fi
smtp-sink "${as_nobody[@]}" -c "127.0.0.1:$sink_port" 1000 >"$work/sink.count" 2>"$work/sink.log" &
pids+=($!)

# Our relay: one connected system whose server is 127.0.0.1, external mail to the sink.
export PERIMETER_DATA_DIR=$work/data PERIMETER_STORE_URL=
cat >"$work/perimeter.toml" <<TOML
[services]
web = false
[relay]
spool_dir = "spool"
[relay.limits]
max_sessions = 1000
# The load comes from one connected system.
reserved_for_systems = 500
max_sessions_per_system = 250
[relay.delivery]
smarthost = "127.0.0.1:$sink_port"
max_concurrent = 100
# The traffic watch counts and fingerprints every message, as in production, but the
# benchmark's one system sending the same text at full speed must not be suspended.
[relay.watch]
enabled = $([[ ${WATCH:-on} == off ]] && echo false || echo true)
[relay.watch.volume]
min_messages = 1000000000
min_recipients = 1000000000
[relay.watch.fanout]
throttle = 1000000000
suspend = 1000000000
TOML
export PERIMETER_CONFIG=$work/perimeter.toml
"$bin" operator add bench >/dev/null
"$bin" org add --bin 980140000015 --name Bench --operator bench >/dev/null
"$bin" mail connect bench-mail --owner 980140000015 --domain source.example --server 127.0.0.1 \
    --contact postmaster@source.example >/dev/null
token=$("$bin" token create bench --duty | grep -o 'pmt_[A-Za-z0-9_]*' | head -n 1)
"$bin" up --listen "127.0.0.1:$api_port" --relay-listen "127.0.0.1:$ours_port" >"$work/up.log" 2>&1 &
pids+=($!)

# Postfix: a private instance relaying everything from loopback to the same sink.
mkdir -p "$work/postfix" "$work/pfq"
cp /etc/postfix/master.cf "$work/postfix/master.cf"
sed -i "s/^smtp      inet/127.0.0.1:$pf_port      inet/" "$work/postfix/master.cf"
cat >"$work/postfix/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $work/pfq
data_directory = $work/pfq/data
inet_interfaces = 127.0.0.1
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$sink_port
smtp_dns_support_level = disabled
maillog_file = $work/maillog
maillog_file_prefixes = $work
myhostname = postfix.bench.example
mydestination =
smtpd_relay_restrictions = permit_mynetworks, reject
CF
postfix -c "$work/postfix" check
postfix -c "$work/postfix" start >/dev/null || { cat "$work/maillog" >&2; exit 1; }
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$ours_port") 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$pf_port") 2>/dev/null && break
    sleep 0.1
done

sink_count() { tail -c 100 "$work/sink.count" | tr '\r' '\n' | grep -o 'mesg=[0-9]*' | tail -n 1 | cut -d= -f2 | grep . || echo 0; }
cpu_jiffies() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
hz=$(getconf CLK_TCK)
drained() {
    case $1 in
        ours) curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$api_port/api/v1/mail/queue" | grep -q '"queued":[1-9]' && return 1 || return 0 ;;
        postfix) postqueue -c "$work/postfix" -p 2>/dev/null | grep -q "Mail queue is empty" ;;
        sink) return 0 ;;
    esac
}

run() { # name port size sessions
    local name=$1 port=$2 size=$3 sess=$4
    local c0 t0 t1 c1 base
    base=$(sink_count)
    c0=$(cpu_jiffies); t0=$(date +%s.%N)
    local reuse=()
    [[ ${REUSE:-off} == on ]] && reuse=(-d)
    smtp-source "${reuse[@]}" -s "$sess" -l "$size" -m "$n" -f sender@source.example -t rcpt@dest.example "127.0.0.1:$port"
    local ta; ta=$(date +%s.%N)
    local deadline=$((SECONDS + 300))
    until [[ $(($(sink_count) - base)) -ge $n ]] && drained "$name"; do
        ((SECONDS < deadline)) || { echo "$name: timed out with $(($(sink_count) - base))/$n delivered" >&2; break; }
        sleep 0.05
    done
    t1=$(date +%s.%N); c1=$(cpu_jiffies)
    python3 - "$name" "$size" "$sess" "$n" "$t0" "$ta" "$t1" "$c0" "$c1" "$hz" "$(($(sink_count) - base))" <<'PY'
import sys
name, size, sess, n, t0, ta, t1, c0, c1, hz, got = sys.argv[1:]
wall = float(t1) - float(t0); cpu = (int(c1) - int(c0)) / int(hz)
accepted = int(n) / (float(ta) - float(t0))
print(f"{name:8} {int(size)//1024:>4} KiB {sess:>4} sessions  {int(got)}/{n} delivered  "
      f"{int(n)/wall:8.0f} msg/s  {cpu*1000/int(n):6.2f} ms CPU/msg  (accepted at {accepted:.0f} msg/s)")
PY
}

for size in ${SIZES:-5120 102400}; do
    for sess in ${SESSIONS:-1 20 100}; do
        run ours "$ours_port" "$size" "$sess"
        run postfix "$pf_port" "$size" "$sess"
        # The ceiling: the same load straight into the sink, which keeps nothing.
        [[ ${CEILING:-on} == off ]] || run sink "$sink_port" "$size" "$sess"
    done
done
