#!/usr/bin/env bash
# What the WAF's reverse proxy costs by itself, side by side in one run with its named
# baseline: nginx (Debian) as a TLS reverse proxy with `modsecurity off`. Both terminate
# TLS for the same site certificate, keep connections to the same origin (nginx serving a
# 1 KiB page over plain HTTP) alive and run on one core (taskset, CPU 0; wrk and the
# origin on CPU 1). Our side runs the engine with every CRS rule removed (the nearest the
# site settings come to `SecRuleEngine Off`: a transaction is still begun, fed and
# finished for every request), and, for reference, a second site with the CRS at
# paranoia 1 (the engine's own cost is benches of the engine's).
#
#   benches/waf_proxy.sh            # 10 s per run, 32 connections
#   DURATION=30 CONNS=64 benches/waf_proxy.sh
#
# Prints requests per second, CPU per request of the proxy's processes, and latency
# (p50, p99) for each; fails when any run counts an error or a non-2xx answer.
# Needs nginx, libnginx-mod-http-modsecurity, wrk, openssl, libmodsecurity3 and
# modsecurity-crs; builds the waf_serve example in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
for tool in nginx wrk openssl taskset; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
cargo build --release --quiet -p waf --example waf_serve
WAF_SERVE=target/release/examples/waf_serve

work=$(mktemp -d /tmp/waf-proxy-bench.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# A test CA and the site certificates.
cd "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
    -subj /CN=bench-ca -days 2 2>/dev/null
for name in bench crs; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$name.key" -out "$name.csr" \
        -subj "/CN=$name.example.kz" 2>/dev/null
    printf 'subjectAltName=DNS:%s.example.kz\n' "$name" >"$name.ext"
    openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$name.pem" -days 2 \
        -extfile "$name.ext" 2>/dev/null
done
cd - >/dev/null

nginx_conf() { # DIR BODY
    mkdir -p "$1"
    cat >"$1/nginx.conf" <<EOF
daemon off; user root; worker_processes 1; pid $1/nginx.pid; error_log $1/error.log;
load_module /usr/lib/nginx/modules/ngx_http_modsecurity_module.so;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path $1/b; proxy_temp_path $1/p; fastcgi_temp_path $1/f;
  uwsgi_temp_path $1/u; scgi_temp_path $1/s;
$2
}
EOF
}

# The origin: one nginx worker serving a 1 KiB page.
origin_port=$(free_port)
mkdir -p "$work/www"
head -c 1024 /dev/zero | tr '\0' 'a' >"$work/www/index.html"
nginx_conf "$work/origin" "  server { listen 127.0.0.1:$origin_port; root $work/www; location / { } }"
taskset -c 1 nginx -c "$work/origin/nginx.conf" -e "$work/origin/error.log" &
pids+=($!)

# The baseline: nginx as a TLS reverse proxy, ModSecurity loaded and off.
nginx_port=$(free_port)
nginx_conf "$work/proxy" "  upstream origin { server 127.0.0.1:$origin_port; keepalive 64; }
  server { listen 127.0.0.1:$nginx_port ssl; http2 on; server_name bench.example.kz;
    ssl_certificate $work/bench.pem; ssl_certificate_key $work/bench.key;
    modsecurity off;
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection \"\";
      proxy_set_header Host \$host; proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_set_header X-Forwarded-Proto https; } }"
sed -i 's/http2 on; //' "$work/proxy/nginx.conf" # nginx 1.22 enables HTTP/2 on the listen line
taskset -c 0 nginx -c "$work/proxy/nginx.conf" -e "$work/proxy/error.log" &
pids+=($!)
nginx_master=$!

# Ours: the same site with every CRS rule removed, and a site with the CRS at paranoia 1.
waf_port=$(free_port)
exclusions=$(grep -hoE 'id:[0-9]+' /usr/share/modsecurity-crs/rules/*.conf | sort -u | cut -d: -f2 \
    | awk '{ printf "%s{ rule = %s }", (NR > 1 ? ", " : ""), $1 }')
site() { # NAME EXCLUSIONS
    printf '[[sites]]\ndomain = "%s.example.kz"\norigins = ["127.0.0.1:%s"]\n' "$1" "$origin_port"
    printf "certificate_pem = '''\n%s'''\nkey_pem = '''\n%s'''\n" "$(cat "$work/$1.pem")" "$(cat "$work/$1.key")"
    printf '[sites.rules]\nexclusions = [%s]\n\n' "$2"
}
{
    printf '[waf]\nhttps_listen = "127.0.0.1:%s"\nhttp_listen = "127.0.0.1:%s"\n' "$waf_port" "$(free_port)"
    printf '[waf.engine]\nthreads = 1\n\n'
    site bench "$exclusions"
    site crs ""
} >"$work/waf.toml"
TOKIO_WORKER_THREADS=1 taskset -c 0 "$WAF_SERVE" "$work/waf.toml" >"$work/waf.out" 2>"$work/waf.err" &
pids+=($!)
waf_pid=$!

for port in "$origin_port" "$nginx_port" "$waf_port"; do
    for _ in $(seq 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
done
kill -0 "$waf_pid" 2>/dev/null || { echo "waf_serve did not start:" >&2; cat "$work/waf.err" >&2; exit 1; }

cpu_ticks() { # PIDS...: user + system clock ticks of the processes and their threads
    local total=0
    for pid in "$@"; do
        read -r -a f <"/proc/$pid/stat"
        total=$((total + f[13] + f[14]))
    done
    echo "$total"
}

# wrk resolves the sites' names through a hosts file of its own (a private mount
# namespace), so that it sends them as SNI; it checks no certificate.
printf '127.0.0.1 bench.example.kz crs.example.kz\n' >"$work/hosts"
wrk_run() { # ARGS...
    unshare --mount --propagation private sh -c 'mount --bind "$0" /etc/hosts && exec taskset -c 1 wrk "$@"' \
        "$work/hosts" "$@"
}

# Clock ticks of the WAF's engine threads (named waf-engine-N) so far (0 before it runs).
engine_ticks() {
    local total=0 task comm
    [[ -n ${waf_pid:-} ]] || { echo 0; return; }
    for task in /proc/"$waf_pid"/task/*; do
        read -r comm <"$task/comm"
        [[ $comm == waf-engine-* ]] || continue
        read -r -a f <"$task/stat"
        total=$((total + f[13] + f[14]))
    done
    echo "$total"
}

failed=0
run() { # LABEL URL PIDS...
    local label=$1 url=$2
    shift 2
    wrk_run -t1 -c"$CONNS" -d2s "$url" >/dev/null 2>&1 || true # warm-up
    local before after out
    before=$(cpu_ticks "$@")
    engine0=$(engine_ticks)
    out=$(wrk_run -t1 -c"$CONNS" -d"${DURATION}s" --latency "$url" 2>&1)
    after=$(cpu_ticks "$@")
    engine1=$(engine_ticks)
    local rps p50 p99 requests errors us
    rps=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
    requests=$(awk '/requests in/ { print $1 }' <<<"$out")
    p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
    p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
    errors=$(grep -E 'Non-2xx|Socket errors' <<<"$out" || true)
    us=$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="${requests:-0}" \
        'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "-" }')
    printf '%-44s %10s req/s %8s us CPU/req   p50 %8s   p99 %8s\n' "$label" "${rps:--}" "$us" "${p50:--}" "${p99:--}"
    last_us=$us
    last_requests=${requests:-0}
    if [[ -n $errors || -z $rps ]]; then
        echo "  errors: ${errors:-$out}" >&2
        failed=1
    fi
}

nginx_worker=$(pgrep -P "$nginx_master" | head -n 1)
echo "== benign GET of a 1 KiB page over HTTPS keep-alive, $CONNS connections, ${DURATION}s, each proxy on one core"
run "nginx 1.22, ModSecurity off (baseline)" "https://bench.example.kz:$nginx_port/" "$nginx_master" "$nginx_worker"
for site in "bench:engine with every CRS rule removed" "crs:CRS 3.3.4 at paranoia 1 (reference)"; do
    run "waf, ${site#*:}" "https://${site%%:*}.example.kz:$waf_port/" "$waf_pid"
    awk -v t=$((engine1 - engine0)) -v hz="$(getconf CLK_TCK)" -v all="$last_us" -v n="$last_requests" \
        'BEGIN { if (n > 0) { e = t / hz * 1e6 / n; printf "  of which the engine threads %.1f us, the proxy (TLS, HTTP, pools) %.1f us\n", e, all - e } }'
done
exit $failed
