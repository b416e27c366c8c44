#!/usr/bin/env bash
# Mail authentication's cost (issue 28), run by `AUTH=on benches/mail.sh [MESSAGES]`: the
# relay (the standalone `epbsh-relay`, release build, fsync on) without and with DKIM
# signing (Ed25519, RSA-2048) of a connected system's mail, and without and with the
# inbound checks (SPF, DKIM, ARC, DMARC; answers from a local dnsmasq, TTL 300 s) of mail
# from outside; in the same run Postfix alone and Postfix with OpenDKIM as a milter
# (signing RSA-2048 relaxed/relaxed, and verifying). smtp-source drives every row into the
# same counting smtp-sink; a row counts a message once the sink has it. Fails when a row
# loses or refuses a message.
#
#   AUTH=on benches/mail.sh [MESSAGES]   # default 2000 per row
#   SIZES="5120" SESSIONS="20" AUTH=on benches/mail.sh   # the rows of the goal (default)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}
for tool in smtp-source smtp-sink postfix opendkim dnsmasq openssl; do
    command -v "$tool" >/dev/null || { echo "$tool is needed (Debian: postfix, opendkim, dnsmasq-base, openssl)" >&2; exit 1; }
done
cargo build --release -q -p epbsh --bin epbsh-relay
relay_bin=$PWD/target/release/epbsh-relay
work=$(mktemp -d)
chmod 755 "$work"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
postfixes=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for c in "${postfixes[@]}"; do postfix -c "$c" stop >/dev/null 2>&1 || true; done
    rm -rf "$work"
}
trap cleanup EXIT

sink_port=$(free_port)
as_nobody=()
if [[ $(id -u) -eq 0 ]]; then as_nobody=(-u nobody); fi
smtp-sink "${as_nobody[@]}" -c "127.0.0.1:$sink_port" 1000 >"$work/sink.count" 2>"$work/sink.log" &
pids+=($!)

# DNS for the inbound checks: source.example allows 127.0.0.1 and asks DMARC p=none.
dns_port=$(free_port)
dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces --listen-address=127.0.0.1 \
    --port="$dns_port" --pid-file= --conf-file=/dev/null --local=/example/ --local-ttl=300 \
    --txt-record="source.example,v=spf1 ip4:127.0.0.1 -all" \
    --txt-record="_dmarc.source.example,v=DMARC1; p=none" 2>"$work/dnsmasq.log" &
pids+=($!)

# Keys in the relay's layout: PKCS #8 DER, 0600, with the metadata beside it.
keys() { # dir algorithm(ed25519|rsa2048)
    local dir=$1/source.example
    mkdir -p "$dir"
    case $2 in
        ed25519) openssl genpkey -algorithm ed25519 -outform DER -out "$dir/bench.key" 2>/dev/null ;;
        rsa2048) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -outform DER -out "$dir/bench.key" 2>/dev/null ;;
    esac
    chmod 600 "$dir/bench.key"
    printf 'algorithm = "%s"\ncreated = "2026-01-01T00:00:00Z"\nsigns_from = "2026-01-01T00:00:00Z"\n' "$2" >"$dir/bench.toml"
}

# One relay: NAME, the registry's server address for source.example, [auth] lines.
relay() {
    local name=$1 server=$2 auth=$3 p
    p=$(free_port)
    cat >"$work/$name.toml" <<TOML
listen = "127.0.0.1:$p"
hostname = "relay.bench.example"
spool_dir = "$work/$name-spool"
[limits]
max_sessions = 1000
max_sessions_per_address = 1000
[verify]
mode = "off"
[delivery]
smarthost = "127.0.0.1:$sink_port"
max_concurrent = 100
[auth]
$auth
TOML
    cat >"$work/$name.json" <<JSON
[{"id": 1, "name": "source", "owner_bin": "980140000015", "domains": ["source.example"],
  "servers": ["$server"], "deliver_to": null, "contacts": [], "status": "active"},
 {"id": 2, "name": "dest", "owner_bin": "980140000016", "domains": ["dest.example"],
  "servers": ["127.0.0.3"], "deliver_to": "127.0.0.1:$sink_port", "contacts": [], "status": "active"}]
JSON
    "$relay_bin" "$work/$name.toml" "$work/$name.json" >"$work/$name.out" 2>"$work/$name.log" &
    pids+=($!)
    port[$name]=$p
}
declare -A port
keys "$work/keys-ed" ed25519
keys "$work/keys-rsa" rsa2048
no_checks='spf = "off"
dkim = "off"
arc = "off"
dmarc = "off"
anti_spoofing = false'
# Outbound: 127.0.0.1 is source.example's server.
relay out 127.0.0.1 "sign = false
$no_checks"
relay out-ed25519 127.0.0.1 "keys_dir = \"$work/keys-ed\"
$no_checks"
relay out-rsa 127.0.0.1 "keys_dir = \"$work/keys-rsa\"
$no_checks"
# Inbound: 127.0.0.1 is nobody's server; mail from source.example to dest.example.
relay in 127.0.0.2 "sign = false
$no_checks"
relay in-checked 127.0.0.2 "sign = false
resolvers = [\"127.0.0.1:$dns_port\"]
anti_spoofing = false"

# OpenDKIM as a milter: one signing (mail from 127.0.0.1 is internal), one verifying.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/opendkim.pem" 2>/dev/null
opendkim_port() { # mode internal-hosts; sets milter[mode]
    local p; p=$(free_port)
    cat >"$work/opendkim-$1.conf" <<CONF
Syslog no
Background no
Mode $1
Socket inet:$p@127.0.0.1
Domain source.example
Selector bench
KeyFile $work/opendkim.pem
Canonicalization relaxed/relaxed
OversignHeaders From
InternalHosts $2
PidFile $work/opendkim-$1.pid
# The key lives under a temporary directory in /tmp, which OpenDKIM otherwise refuses.
RequireSafeKeys false
CONF
    opendkim -f -x "$work/opendkim-$1.conf" >"$work/opendkim-$1.log" 2>&1 &
    pids+=($!)
    milter[$1]=$p
}
declare -A milter
opendkim_port s 127.0.0.1
opendkim_port v 192.0.2.1

# Postfix instances relaying to the sink: alone, and with each milter.
postfix_port() { # name row [milter-port]; sets port[row]
    local name=$1 row=$2 milter=${3:-} p conf=$work/pf-$1
    p=$(free_port)
    mkdir -p "$conf" "$work/pfq-$name"
    cp /etc/postfix/master.cf "$conf/master.cf"
    sed -i "s/^smtp      inet/127.0.0.1:$p      inet/" "$conf/master.cf"
    cat >"$conf/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $work/pfq-$name
data_directory = $work/pfq-$name/data
inet_interfaces = 127.0.0.1
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$sink_port
smtp_dns_support_level = disabled
maillog_file = $work/maillog-$name
maillog_file_prefixes = $work
myhostname = postfix-$name.bench.example
mydestination =
smtpd_relay_restrictions = permit_mynetworks, reject
CF
    if [[ -n $milter ]]; then
        printf 'smtpd_milters = inet:127.0.0.1:%s\nmilter_default_action = tempfail\n' "$milter" >>"$conf/main.cf"
    fi
    postfix -c "$conf" check
    postfix -c "$conf" start >/dev/null || { cat "$work/maillog-$name" >&2; exit 1; }
    postfixes+=("$conf")
    port[$row]=$p
}
postfix_port plain postfix
postfix_port sign postfix+opendkim-sign "${milter[s]}"
postfix_port verify postfix+opendkim-verify "${milter[v]}"

for name in "${!port[@]}"; do
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/${port[$name]}") 2>/dev/null && break; sleep 0.1; done
    (exec 3<>"/dev/tcp/127.0.0.1/${port[$name]}") 2>/dev/null || { echo "$name did not start" >&2; cat "$work"/*.log >&2; exit 1; }
done

sink_count() { tail -c 100 "$work/sink.count" | tr '\r' '\n' | grep -o 'mesg=[0-9]*' | tail -n 1 | cut -d= -f2 | grep . || echo 0; }
cpu_jiffies() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
hz=$(getconf CLK_TCK)
failed=0
run() { # name size sessions
    local name=$1 size=$2 sess=$3 base c0 t0 t1 c1 got
    base=$(sink_count)
    c0=$(cpu_jiffies); t0=$(date +%s.%N)
    smtp-source -s "$sess" -l "$size" -m "$n" -f sender@source.example -t rcpt@dest.example "127.0.0.1:${port[$name]}" \
        2>"$work/source-$name.log" || true
    local deadline=$((SECONDS + 300))
    until [[ $(($(sink_count) - base)) -ge $n ]]; do
        ((SECONDS < deadline)) || break
        sleep 0.05
    done
    t1=$(date +%s.%N); c1=$(cpu_jiffies)
    got=$(($(sink_count) - base))
    if [[ $got -ne $n ]] || grep -q . "$work/source-$name.log"; then
        echo "$name: $got/$n delivered; smtp-source said: $(head -c 300 "$work/source-$name.log")" >&2
        failed=1
    fi
    python3 - "$name" "$size" "$sess" "$n" "$t0" "$t1" "$c0" "$c1" "$hz" "$got" <<'PY'
import sys
name, size, sess, n, t0, t1, c0, c1, hz, got = sys.argv[1:]
wall = float(t1) - float(t0); cpu = (int(c1) - int(c0)) / int(hz)
print(f"{name:26} {int(size)//1024:>4} KiB {sess:>4} sessions  {got}/{n} delivered  "
      f"{int(n)/wall:8.0f} msg/s  {cpu*1000/int(n):6.2f} ms CPU/msg")
PY
}

for size in ${SIZES:-5120}; do
    for sess in ${SESSIONS:-20}; do
        for name in out out-ed25519 out-rsa in in-checked postfix postfix+opendkim-sign postfix+opendkim-verify; do
            run "$name" "$size" "$sess"
        done
    done
done
# A key the relay could not use would leave a signing row unsigned: that fails the run.
if grep -l "DKIM key not used\|WARN\|ERROR" "$work"/out*.log "$work"/in*.log 2>/dev/null; then
    echo "a relay warned (above); its figures are not what they claim" >&2
    failed=1
fi
exit "$failed"
