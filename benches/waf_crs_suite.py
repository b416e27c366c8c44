#!/usr/bin/env python3
"""The OWASP CRS regression suite through our WAF engine and through nginx +
ModSecurity 3 (Debian's libnginx-mod-http-modsecurity) with the same rules, in one run.

The tests are the YAML files of the coreruleset repository at the tag of the CRS in use
(tests/regression/tests/<RULE-FILE>/<id>.yaml), read from a checkout outside the project
(nothing of it is copied here). Each test's requests are built as the `ftw` runner
builds them (headers in order, a urlencoded default content type, Content-Length,
`raw_request` and `encoded_request` as given) and are checked as ftw checks them
(`log_contains`, `no_log_contains`, `status`, `expect_error`).

  * Both run the rule text a site of ours compiles with the settings the suite is
    written for (paranoia 4, detection only: the CRS project's own test set-up), i.e. the
    project's base configuration, Debian's crs-setup.conf and CRS rules
    (`waf_peer rules DIR crs-suite`).
  * nginx: a private nginx (one process, loopback, a free port) whose server runs
    ModSecurity with that rule text, in front of a second server block answering 200 (the origin).
    A test's log is what ModSecurity wrote to nginx's error log for it: after each
    request the runner sends a marker request and waits for the line the project's
    score rule (10099) writes for the marker at the end of its transaction.
  * engine: the same request, read as a strict HTTP/1.1 proxy reads it (RFC 9112: only
    HTTP/1.0 and 1.1, an origin-form or absolute-form target of printable ASCII, one
    non-empty Host in HTTP/1.1, no CR, LF or NUL inside a header value, bare LF line
    ends accepted; a refused request is answered 400 before the engine, as nginx answers
    it; a body shorter than its Content-Length never ends), through our binding
    in-process (`waf_peer replay`); its log is the matched rule ids.
  * proxy (optional, --proxy HOST:PORT): the same raw bytes to a running `perimeter`
    WAF listener; its log is the audit log file given with --proxy-log.

Usage (the checkout is a bare clone: `fetch` or `git clone --bare`):

    python3 benches/waf_crs_suite.py --crs-git /path/to/coreruleset.git --tag v3.3.4
        [--only 942] [--json result.json]

Prints the pass counts of each side and every test on which they differ.
"""

import argparse
import base64
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from urllib.parse import parse_qsl, unquote, urlencode

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE = "/usr/lib/nginx/modules/ngx_http_modsecurity_module.so"


def export_tests(git_dir, tag, dest):
    """The regression tests of `tag`, extracted into `dest` (git archive; no checkout)."""
    archive = subprocess.run(["git", "--git-dir", git_dir, "archive", tag, "tests/regression/tests"],
                             check=True, capture_output=True).stdout
    tarfile.open(fileobj=io.BytesIO(archive)).extractall(dest)
    return os.path.join(dest, "tests/regression/tests")


def load_tests(root, only):
    for dirpath, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            if not name.endswith(".yaml") or (only and not name.startswith(only)):
                continue
            with open(os.path.join(dirpath, name), encoding="utf-8") as f:
                doc = yaml.safe_load(f)
            if not doc or not doc.get("meta", {}).get("enabled", True):
                continue
            for test in doc.get("tests") or []:
                stages = [s["stage"] for s in test.get("stages", [])]
                yield name, str(test.get("test_title")), stages


def build(inp):
    """The bytes ftw 1.3 sends for a stage's input."""
    if inp.get("encoded_request") is not None:
        return base64.b64decode(inp["encoded_request"])
    if inp.get("raw_request") is not None:
        return inp["raw_request"].encode("utf-8").decode("unicode_escape").encode("latin-1", "replace")
    method = str(inp.get("method", "GET"))
    uri = str(inp.get("uri", "/"))
    version = str(inp.get("version", "HTTP/1.1"))
    headers = dict(inp.get("headers") or {})
    data = inp.get("data", "")
    if isinstance(data, list):
        data = "\r\n".join(data)
    data = "" if data is None else str(data)
    magic = not inp.get("stop_magic", False)
    if data:
        if "Content-Type" not in headers and magic:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if headers.get("Content-Type") == "application/x-www-form-urlencoded" and magic:
            if unquote(data) == data:
                pairs = parse_qsl(data)
                if pairs:
                    data = urlencode(pairs)
        if "Content-Length" not in headers and magic:
            headers["Content-Length"] = len(data)
    head = f"{method} {uri} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return (head + data).encode("utf-8")


def dechunk(body):
    out, rest = b"", body
    while True:
        line, sep, rest = rest.partition(b"\r\n")
        if not sep:
            return None
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return out
        out, rest = out + rest[:size], rest[size + 2:]


def parse_request(raw):
    """The request as the proxy in front of the engine reads it, or "400" when a strict
    HTTP/1.1 server refuses it (RFC 9112), or "error" when it never ends (a body shorter
    than its Content-Length: the connection waits and times out)."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        at = raw.find(sep)
        if at >= 0:
            head, body = raw[:at], raw[at + len(sep):]
            break
    else:
        return "error"
    lines = head.replace(b"\r\n", b"\n").split(b"\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not re.fullmatch(rb"HTTP/1\.[01]", parts[2]) or not re.fullmatch(rb"[A-Za-z]+", parts[0]):
        return "400"
    method, uri, version = (p.decode("ascii") for p in parts)
    # origin-form, absolute-form, or * for OPTIONS; printable ASCII (RFC 3986)
    if not re.fullmatch(r"(/|https?://)[!-~]*|\*", uri) or (uri == "*" and method != "OPTIONS"):
        return "400"
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not re.fullmatch(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name) or re.search(rb"[\r\n\0]", value):
            return "400"
        headers.append((name, value.strip(b" \t")))
    names = [h[0].lower() for h in headers]
    hosts = [h[1] for h in headers if h[0].lower() == b"host"]
    if version == "HTTP/1.1" and (len(hosts) != 1 or not hosts[0]):
        return "400"
    if b"transfer-encoding" in names:
        if b"content-length" in names:
            return "400"
        body = dechunk(body)
        if body is None:
            return "error"
    elif b"content-length" in names:
        lengths = {h[1] for h in headers if h[0].lower() == b"content-length"}
        if len(lengths) != 1 or not next(iter(lengths)).isdigit():
            return "400"
        want = int(next(iter(lengths)))
        if len(body) < want:
            return "error"
        body = body[:want]
    else:
        body = b""
    b64 = lambda b: base64.b64encode(b).decode()
    return {"method": method, "uri": uri, "version": version,
            "headers_b64": [[b64(n), b64(v)] for n, v in headers], "body_b64": b64(body)}


def read_response(sock):
    """The status of one HTTP/1.x response, or None when the connection ends without one."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    match = re.match(rb"HTTP/\d\.\d (\d{3})", data)
    if not match:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    want = int(length.group(1)) if length else 0
    while len(body) < want:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(match.group(1))


def send(port, raw):
    """(status or None, error text or None)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(raw)
            status = read_response(sock)
            return status, None if status else "no response"
    except OSError as err:
        return None, str(err)


class Nginx:
    def __init__(self, work, rules_dir):
        self.dir = os.path.join(work, "nginx")
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        self.port, origin = free_port(), free_port()
        self.log = os.path.join(self.dir, "error.log")
        conf = f"""
load_module {MODULE};
daemon off; master_process off; worker_processes 1;
error_log {self.log} info; pid {self.dir}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {self.dir}/tmp/body; proxy_temp_path {self.dir}/tmp/proxy;
    fastcgi_temp_path {self.dir}/tmp/f; uwsgi_temp_path {self.dir}/tmp/u; scgi_temp_path {self.dir}/tmp/s;
    client_max_body_size 16m;
    # As the proxy in front of our engine does: a header name with "_" or "." reaches the rules.
    underscores_in_headers on; ignore_invalid_headers off;
    server {{
        listen 127.0.0.1:{self.port};
        modsecurity on;
        modsecurity_rules_file {rules_dir}/site.conf;
        location / {{ proxy_pass http://127.0.0.1:{origin}; proxy_set_header Host $host; }}
    }}
    server {{ listen 127.0.0.1:{origin}; location / {{ return 200 "ok\\n"; }} }}
}}
"""
        with open(os.path.join(self.dir, "nginx.conf"), "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen(["nginx", "-p", self.dir, "-c", os.path.join(self.dir, "nginx.conf"), "-e", self.log])
        wait_port(self.port)
        self.marks = 0

    def run(self, raw):
        start = os.path.getsize(self.log)
        status, error = send(self.port, raw)
        self.marks += 1
        marker = f"/__perimeter_marker/{self.marks}"
        send(self.port, f"GET {marker} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: crs-suite\r\nAccept: */*\r\nConnection: close\r\n\r\n".encode())
        deadline = time.time() + 10
        while time.time() < deadline:
            with open(self.log, "rb") as f:
                f.seek(start)
                text = f.read().decode("latin-1")
            at = text.find(f'[uri "{marker}"]')
            if at >= 0:
                return status, error, text[:text.rfind("\n", 0, at) + 1]
            time.sleep(0.01)
        raise RuntimeError(f"nginx did not log the marker {marker}")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


class Engine:
    def __init__(self, peer):
        self.proc = subprocess.Popen([peer, "replay", "crs-suite"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self, raw):
        req = parse_request(raw)
        if req == "400":
            return 400, None, ""
        if req == "error":
            return None, "the request never ends", ""
        req["id"] = "crs"
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        log = "".join(f'[id "{i}"]\n' for i in answer["rules"])
        return answer["status"], None, log

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(10)


class Proxy:
    """A running WAF listener and its audit log (one JSON line per transaction)."""

    def __init__(self, address, log):
        host, port = address.rsplit(":", 1)
        self.port, self.log = int(port), log

    def run(self, raw):
        start = os.path.getsize(self.log) if os.path.exists(self.log) else 0
        status, error = send(self.port, raw)
        time.sleep(0.05)
        with open(self.log, "rb") as f:
            f.seek(start)
            lines = f.read().decode("utf-8", "replace").splitlines()
        ids = [m["id"] for line in lines if line.strip() for m in json.loads(line).get("rules", [])]
        return status, error, "".join(f'[id "{i}"]\n' for i in ids)

    def stop(self):
        pass


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


def check(out, status, error, log):
    """None when the stage passes, else why not (ftw's checks)."""
    if out.get("expect_error"):
        return None if error else f"expected an error, got status {status}"
    if error and not out.get("status"):
        if "log_contains" in out and not re.search(out["log_contains"], log):
            return f"no response ({error}) and no {out['log_contains']}"
    if "status" in out:
        want = out["status"] if isinstance(out["status"], list) else [out["status"]]
        if status not in want:
            return f"status {status}, expected {want}"
    if "log_contains" in out and not re.search(out["log_contains"], log):
        return f"log lacks {out['log_contains']}"
    if "no_log_contains" in out and re.search(out["no_log_contains"], log):
        return f"log has {out['no_log_contains']}"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crs-git", required=True)
    ap.add_argument("--tag", default="v3.3.4")
    ap.add_argument("--only", help="test files whose name starts with this (e.g. 942)")
    ap.add_argument("--proxy", help="HOST:PORT of a running WAF listener to test too")
    ap.add_argument("--proxy-log", help="that listener's audit log")
    ap.add_argument("--json", help="write every result here")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="perimeter-crs-")
    try:
        subprocess.run(["cargo", "build", "-q", "--release", "-p", "waf", "--example", "waf_peer"], cwd=ROOT, check=True)
        peer = os.path.join(ROOT, "target/release/examples/waf_peer")
        rules_dir = os.path.join(work, "rules")
        subprocess.run([peer, "rules", rules_dir, "crs-suite"], check=True)
        tests = list(load_tests(export_tests(args.crs_git, args.tag, work), args.only))
        sides = {"nginx": Nginx(work, rules_dir), "engine": Engine(peer)}
        if args.proxy:
            sides["proxy"] = Proxy(args.proxy, args.proxy_log)
        passed = {name: 0 for name in sides}
        results, differ = [], []
        for file, title, stages in tests:
            verdict = {}
            for name, side in sides.items():
                why = None
                for stage in stages:
                    status, error, log = side.run(build(stage.get("input") or {}))
                    why = check(stage.get("output") or {}, status, error, log)
                    if why:
                        break
                verdict[name] = why
                passed[name] += why is None
            results.append({"file": file, "test": title, **{k: v or "pass" for k, v in verdict.items()}})
            if len({v is None for v in verdict.values()}) > 1:
                differ.append(results[-1])
        for side in sides.values():
            side.stop()
        total = len(tests)
        print(f"CRS {args.tag} regression tests: {total}")
        for name, count in passed.items():
            print(f"  {name:7} {count:5} passed, {total - count:4} failed")
        print(f"differences ({len(differ)}):")
        for r in differ:
            print("  " + r["test"] + ": " + "; ".join(f"{k}: {r[k]}" for k in sides))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"passed": passed, "total": total, "results": results}, f, indent=1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
