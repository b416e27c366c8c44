#!/usr/bin/env python3
"""The WAF benchmark: our engine against nginx + ModSecurity 3 (Debian's
libnginx-mod-http-modsecurity, libmodsecurity 3.0.9), the same rules (the text a default
site of ours compiles: the project's base configuration, CRS 3.3.4 at paranoia 1), the
same requests, in one run.

Requests: a benign GET, a 2 KiB urlencoded form POST (Russian text), a 10 KiB JSON POST
(Kazakh text), a blocked attack (SQL injection in a query), a 1 MiB multipart upload.

  * nginx: one worker on core 0 (`taskset`), `modsecurity on` with the rules file, in
    front of an origin (a second nginx on core 1 answering 200); `wrk` on core 1 with 8
    connections (2 for the 10 KiB JSON and the upload) for --seconds per request. Requests per second and latency p50/p99 from
    wrk; CPU per request from the worker's /proc utime+stime over the requests. The same
    nginx with `modsecurity off` gives the proxy's own cost, so the latency it adds is
    told apart from the engine's.
  * engine (in-process, until the proxy of the `serve` half runs): each request through
    our binding on one thread (`waf_peer bench`), --transactions times: CPU per
    transaction and transactions per second (one core).

Verdicts must agree (403 for the attack, 200 for the rest, on both sides); wrk errors
or a disagreement fail the run.

    python3 benches/waf_bench.py [--seconds 10] [--transactions 300]
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE = "/usr/lib/nginx/modules/ngx_http_modsecurity_module.so"
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
TICK = os.sysconf("SC_CLK_TCK")


def requests():
    """name -> (method, path, extra headers, body)."""
    text_ru = "Прошу рассмотреть моё обращение по вопросу ремонта подъезда в доме № 14, улица Кенесары. "
    form = urllib.parse.urlencode({"FIO": "Ахметов Нұрлан Серікұлы", "IIN": "900101300123", "PHONE": "+7 (701) 123-45-67",
                                   "MESSAGE": (text_ru * 30)})[:2048]
    text_kk = "Құрметті әкім! Ауылымыздағы жолды жөндеуді сұраймыз, көктемде өту мүмкін емес. "
    items = [{"id": i, "title": text_kk[: 40 + i % 30], "status": "new"} for i in range(60)]
    body = json.dumps({"query": "жер учаскесі", "items": items}, ensure_ascii=False).encode()
    json_body = body[:10240] if len(body) > 10240 else body + b" " * (10240 - len(body))
    boundary = "----WebKitFormBoundaryPerimeterBench"
    pdf = b"%PDF-1.7\n" + bytes((i * 7919) % 251 for i in range(1 << 20)) + b"\n%%EOF\n"
    upload = (f'--{boundary}\r\nContent-Disposition: form-data; name="FIO"\r\n\r\nАхметов Нұрлан\r\n'
              f'--{boundary}\r\nContent-Disposition: form-data; name="FILE"; filename="Заявление.pdf"\r\n'
              f'Content-Type: application/pdf\r\n\r\n').encode() + pdf[: (1 << 20) - 400] + f"\r\n--{boundary}--\r\n".encode()
    return {
        "1-get": ("GET", "/ru/news/2024/05/17/?page=2", [], b""),
        "2-form-2k": ("POST", "/ru/appeals/new/", [("Content-Type", "application/x-www-form-urlencoded")], form.encode()),
        "3-json-10k": ("POST", "/api/v1/search", [("Content-Type", "application/json")], json_body),
        "4-attack": ("GET", "/search?q=1%27%20or%20%271%27%3D%271", [], b""),
        "5-upload-1m": ("POST", "/ru/appeals/upload/", [("Content-Type", f"multipart/form-data; boundary={boundary}")], upload),
    }


def headers(extra, body):
    h = [("Host", "localhost"), ("User-Agent", UA), ("Accept", "text/html,*/*;q=0.8"), ("Accept-Language", "ru-RU,ru;q=0.9,kk;q=0.8")]
    h += extra
    if body:
        h.append(("Content-Length", str(len(body))))
    return h


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def nginx(work, name, core, server_block):
    d = os.path.join(work, name)
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    conf = f"""
load_module {MODULE};
daemon off; master_process off; worker_processes 1;
error_log {d}/error.log warn; pid {d}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body; proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/f; uwsgi_temp_path {d}/tmp/u; scgi_temp_path {d}/tmp/s;
    client_max_body_size 16m; client_body_buffer_size 2m;
    {server_block}
}}
"""
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(conf)
    proc = subprocess.Popen(["taskset", "-c", str(core), "nginx", "-p", d, "-c", os.path.join(d, "nginx.conf"), "-e", f"{d}/error.log"])
    return proc


def cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wrk(port, lua, seconds, connections):
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "--latency", "-s", lua,
                          f"http://127.0.0.1:{port}/"], capture_output=True, text=True, check=True).stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def ms(label):
        m = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Socket errors: (.*)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"requests": total, "rps": rps, "p50_ms": ms("50"), "p99_ms": ms("99"),
            "socket_errors": errors.group(1) if errors else None, "non2xx": int(non2xx.group(1)) if non2xx else 0}


def lua_script(path, method, uri, hdrs, body_file):
    lines = [f'wrk.method = "{method}"', f'wrk.path = "{uri}"']
    for k, v in hdrs:
        if k != "Content-Length":
            lines.append(f'wrk.headers["{k}"] = {json.dumps(v)}')
    if body_file:
        lines.append(f'local f = io.open("{body_file}", "rb"); wrk.body = f:read("*a"); f:close()')
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def measure(proc, port, lua, seconds, status, connections):
    before = cpu_ticks(proc.pid)
    result = wrk(port, lua, seconds, connections)
    result["cpu_ms_per_req"] = (cpu_ticks(proc.pid) - before) * 1000 / TICK / max(result["requests"], 1)
    blocked = status == 403
    if result["socket_errors"] or (result["non2xx"] != (result["requests"] if blocked else 0)):
        result["error"] = f"socket errors {result['socket_errors']}, non-2xx {result['non2xx']} of {result['requests']}"
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--transactions", type=int, default=300)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="perimeter-wafbench-")
    procs = []
    failed = False
    try:
        subprocess.run(["cargo", "build", "-q", "--release", "-p", "waf", "--example", "waf_peer"], cwd=ROOT, check=True)
        peer = os.path.join(ROOT, "target/release/examples/waf_peer")
        rules = os.path.join(work, "rules")
        subprocess.run([peer, "rules", rules], check=True)
        reqdir = os.path.join(work, "requests")
        os.makedirs(reqdir)
        plan = requests()
        for name, (method, uri, extra, body) in plan.items():
            hdrs = headers(extra, body)
            raw = f"{method} {uri} HTTP/1.1\r\n".encode() + "".join(f"{k}: {v}\r\n" for k, v in hdrs).encode() + b"\r\n" + body
            with open(os.path.join(reqdir, name + ".req"), "wb") as f:
                f.write(raw)
            body_file = None
            if body:
                body_file = os.path.join(reqdir, name + ".body")
                with open(body_file, "wb") as f:
                    f.write(body)
            lua_script(os.path.join(reqdir, name + ".lua"), method, uri, hdrs, body_file)

        engine = {}
        out = subprocess.run(["taskset", "-c", "0", peer, "bench", reqdir, str(args.transactions)],
                             capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            r = json.loads(line)
            engine[r["request"]] = r

        origin_port, waf_port, plain_port = free_port(), free_port(), free_port()
        procs.append(nginx(work, "origin", 1, f'server {{ listen 127.0.0.1:{origin_port}; location / {{ return 200 "ok\\n"; }} }}'))
        proxy = f"location / {{ proxy_pass http://127.0.0.1:{origin_port}; proxy_http_version 1.1; proxy_set_header Connection \"\"; }}"
        waf = nginx(work, "modsecurity", 0, f"server {{ listen 127.0.0.1:{waf_port}; modsecurity on; modsecurity_rules_file {rules}/site.conf; {proxy} }}")
        plain = nginx(work, "plain", 0, f"server {{ listen 127.0.0.1:{plain_port}; {proxy} }}")
        procs += [waf, plain]
        for port in (origin_port, waf_port, plain_port):
            wait_port(port)

        rows = []
        for name in plan:
            lua = os.path.join(reqdir, name + ".lua")
            e = engine[name]
            # Few connections for the heavy bodies: the queue, not the engine, would set the latency.
            connections = 2 if name.startswith(("3-", "5-")) else 8
            with_modsec = measure(waf, waf_port, lua, args.seconds, e["status"], connections)
            without = measure(plain, plain_port, lua, args.seconds, 200, connections)
            agree = (with_modsec["non2xx"] > 0) == (e["status"] == 403)
            rows.append((name, e, with_modsec, without, agree))
            failed |= bool(with_modsec.get("error") or without.get("error") or not agree)

        print("| request | nginx+ModSecurity req/s | CPU ms/req | p50 ms | p99 ms | added p50/p99 ms (vs modsecurity off) "
              "| engine in-process tx/s (1 core) | engine CPU ms/tx | ratio of req/s | verdict |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for name, e, m, p, agree in rows:
            ratio = e["tx_per_s"] / m["rps"] if m["rps"] else 0
            verdict = ("403" if e["status"] == 403 else "200") + (" both" if agree else " DIFFER")
            print(f"| {name} | {m['rps']:.0f} | {m['cpu_ms_per_req']:.2f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} "
                  f"| {m['p50_ms'] - p['p50_ms']:.2f} / {m['p99_ms'] - p['p99_ms']:.2f} "
                  f"| {e['tx_per_s']:.0f} | {e['cpu_us_per_tx'] / 1000:.2f} | {ratio:.2f}x | {verdict} |")
            for side, r in (("modsecurity", m), ("plain", p)):
                if r.get("error"):
                    print(f"  {name} {side}: {r['error']}")
        print(f"\n(modsecurity off: " + ", ".join(f"{n} {p['rps']:.0f} req/s {p['cpu_ms_per_req']:.3f} ms CPU" for n, _, _, p, _ in rows) + ")")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
