#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets into fuzz/corpus/TARGET/ (run once; the
seeds are committed). Each seed is a well-formed input the parser accepts, so the
fuzzer starts from the interesting paths; ClientHellos are real ones captured from
openssl s_client on loopback."""

import os
import socket
import struct
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(os.path.dirname(HERE), "corpus")


def put(target, name, data):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(CORPUS, target, name), "wb") as f:
        f.write(data)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def capture_hello(args):
    """The first bytes openssl s_client sends to a loopback listener."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    got = {}

    def accept():
        conn, _ = srv.accept()
        conn.settimeout(5)
        data = b""
        while len(data) < 5 or len(data) < 5 + struct.unpack(">H", data[3:5])[0]:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        got["data"] = data
        conn.close()

    t = threading.Thread(target=accept)
    t.start()
    subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}"] + args,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
    t.join(10)
    srv.close()
    return got["data"]


def hellos():
    for i, args in enumerate([
        ["-servername", "www.example.org", "-alpn", "h2,http/1.1"],
        ["-servername", "bank.example.kz", "-tls1_2"],
        ["-noservername"],
    ]):
        record = capture_hello(args)
        put("hello_read", f"openssl-{i}", b"\x40\x00" + record)
        body = record[5 + 4:]
        put("hello_body", f"openssl-{i}", body)


def smtp():
    for i, line in enumerate([
        "EHLO client.example", "HELO [192.0.2.1]", "MAIL FROM:<user@gov.example> SIZE=1000 BODY=8BITMIME",
        "MAIL FROM:<>", "RCPT TO:<Postmaster>", "RCPT TO:<\"quoted user\"@[IPv6:2001:db8::1]>",
        "DATA", "RSET", "NOOP", "QUIT", "VRFY someone", "HELP", "STARTTLS", "EXPN list",
        "rcpt to: <a.b+c@sub.example.kz>", "MAIL FROM:<@relay.example:user@gov.example>",
    ]):
        put("smtp_command", f"line-{i}", line)
    for i, path in enumerate([
        "<user@gov.example>", "<>", "<postmaster>", "<\"a b\"@[192.0.2.7]> SIZE=10",
        "<x@[IPv6:2001:db8::5]>", "<first.last@Mail.Example.KZ>", "<@a,@b:c@d>",
    ]):
        put("smtp_path", f"path-{i}", path)
    message = (b"Subject: test\r\nFrom: a@gov.example\r\n\r\nHello\r\n..dot-stuffed\r\n"
               b".\r\nQUIT\r\n")
    # Header bytes: line limit, size limit, flags (1: trace prefix, 2: small budget),
    # four read sizes, the small budget.
    put("smtp_data", "plain", bytes([200, 255, 1, 0, 7, 3, 64, 0]) + message)
    put("smtp_data", "bare-lf", bytes([200, 255, 0, 1, 1, 1, 1, 0]) + b"a\nb\r\n.\r\n")
    put("smtp_data", "long", bytes([5, 2, 0, 9, 2, 5, 5, 0]) + b"0123456789\r\nok\r\n.\r\n")
    put("smtp_data", "nul", bytes([60, 60, 1, 0, 0, 0, 0, 0]) + b"a\0b\r\n.\r\n")
    put("smtp_data", "hops", bytes([60, 90, 1, 200, 0, 0, 0, 0]) + b"Received: x\r\n" * 51 + b"\r\nb\r\n.\r\n")
    put("smtp_data", "budget", bytes([80, 255, 3, 255, 255, 255, 255, 20]) + b"x" * 70 + b"\r\n" + (b"y" * 70 + b"\r\n") * 100 + b".\r\n")


def mailbox(local, domain):
    return struct.pack("<H", len(local)) + local + struct.pack("<H", len(domain)) + domain


def spool():
    msg = (b"\x01" + struct.pack("<Q", 0x42) + struct.pack("<q", 1_700_000_000_000_000_000)
           + b"\x04" + bytes([192, 0, 2, 1]) + struct.pack("<H", 11) + b"client.test"
           + b"\x01" + struct.pack("<I", 7) + b"\x01" + mailbox(b"a", b"gov.example")
           + struct.pack("<I", 2) + mailbox(b"b", b"x.example") + mailbox(b"\"q@r\"", b"[192.0.2.9]")
           + b"Subject: hi\r\n\r\nbody\r\n")
    msg6 = (b"\x01" + struct.pack("<Q", 9) + struct.pack("<q", -5) + b"\x06" + bytes(16)
            + struct.pack("<H", 0) + b"\x00" + b"\x00" + struct.pack("<I", 1) + mailbox(b"c", b"d.example"))
    states = [
        b"\x01" + struct.pack("<Q", 0x42) + b"\x01" + struct.pack("<I", 1) + b"\x02",
        b"\x01" + struct.pack("<Q", 0x42) + b"\x02",
        b"\x01" + struct.pack("<Q", 0x42) + b"\x04",
        b"\x01" + struct.pack("<Q", 0x42) + b"\x05" + struct.pack("<q", 1_700_000_000_000_000_000),
        b"\x01" + struct.pack("<Q", 0x42) + b"\x06" + struct.pack("<I", 3) + struct.pack("<q", 17)
        + struct.pack("<H", 12) + b"451 try later",
    ]
    for i, p in enumerate([msg, msg6] + states):
        put("spool_payload", f"payload-{i}", p)

    def frame(kind, batch, payload):
        rest = struct.pack("<IBQI", len(payload), kind, batch, crc32c(payload))
        return b"EPBR" + struct.pack("<I", crc32c(rest)) + rest + payload

    seg = frame(1, 1, msg) + frame(2, 1, states[0]) + b"\x00" * 7 + frame(2, 2, states[4])
    put("spool_record", "segment", bytes([3, 0]) + seg)
    put("spool_record", "resync", bytes([2 | 4, 3]) + b"junkEPB" + frame(2, 5, states[1]))
    put("spool_record", "torn", bytes([3, 0]) + frame(1, 1, msg)[:40])


def lists():
    put("list_csv", "list", "\ufeffprefix,bin,comment\r\n# our users\r\n203.0.113.0/24, 980140000016 ,\"HQ, floor 2\"\r\n"
        "2001:db8::/48;980140000016\r\n198.51.100.0/24,980140000016,\"a \"\"quoted\"\" one\"\r\n")
    put("list_csv", "semicolon", "198.51.100.0/24;980140000016;branch\n192.0.2.0/24;980140000016\n")
    put("list_csv", "bad", "192.0.2.0/24\n192.0.2.0/25,1,2,3\n\"open,x\n")
    put("list_json", "list", '[\n  {"prefix": "192.0.2.0/24", "bin": "980140000016"},\n'
        '  {"prefix": "198.51.100.0/24",\n   "bin": "980140000016", "comment": "a [b] {c}"},\n'
        '  {"prefix": 5, "bin": "x"}\n]')
    put("list_json", "scalars", '[\n1,\n2\n,\n{"prefix": "192.0.2.0/24", "bin": "x", "extra": 1}\n]')


def policies():
    with open(os.path.join(REPO, "policies/data/calendar/kz.cal"), "rb") as f:
        put("calendar", "kz", f.read())
    put("calendar", "small", "holiday 01-01..01-02 New Year\nfixed 01-07 Christmas\n"
        "off 2025-01-03 transfer  # from a Saturday\nwork 2025-01-04 transfer\n"
        "holiday 03-21..03-23 Nauryz from 2010 until 2030\n")
    with open(os.path.join(REPO, "policies/src/policy/tests.rs")) as f:
        text = f.read()
    book = text.split('const BOOK: &str = r#"', 1)[1].split('"#;', 1)[0]
    put("policy_book", "book", book)
    put("policy_book", "default", "[default]\ncategories = []\nallow_uncategorised = false\n")
    cats = os.path.join(REPO, "policies/data/categories")
    for name in sorted(os.listdir(cats)):
        with open(os.path.join(cats, name, "domains"), "rb") as f:
            put("category_ut1", name, f.read())
    put("category_ut1", "dots", "\ufeff.bank.example\r\nwww.Example.KZ.  # trailing\n\n#only\nsub_domain.example\n")
    put("category_csv", "csv", "domain,category\nbank.example.kz,finance\n.news.example;news;social\n"
        "egov.kz, government , health # two\n")


def icap():
    # The first byte picks the part: 0 answer head, 1 Encapsulated value, 2 chunked body.
    put("icap_answer", "options", b"\x00ICAP/1.0 200 OK\r\nMethods: RESPMOD, REQMOD\r\nPreview: 1024\r\n"
        b"Transfer-Preview: *\r\nMax-Connections: 64\r\nOptions-TTL: 3600\r\n"
        b"Encapsulated: null-body=0\r\n\r\n")
    put("icap_answer", "threat", b"\x00ICAP/1.0 200 OK\r\nX-Infection-Found: Type=0; Resolution=2; "
        b"Threat=Eicar-Test-Signature;\r\n X-Virus-ID: Eicar\r\nConnection: close\r\n"
        b"Encapsulated: res-hdr=0, res-body=120\r\n\r\n")
    put("icap_answer", "encapsulated", b"\x01req-hdr=0, res-hdr=45, res-body=100")
    put("icap_answer", "chunked", b"\x02\x13" + b"a\r\n0123456789\r\n3; x=y\r\nabc\r\n0; ieof\r\nT: v\r\n\r\n")


def threats():
    # The first byte picks the format: 0 hosts, 1 domains, 2 urls, 3 csv, 4 cidr.
    put("threat_feed", "hosts", b"\x00127.0.0.1 localhost\n0.0.0.0 evil.example bad.example # x\n::1 ip6-localhost\n")
    put("threat_feed", "domains", b"\x01evil.example\n.Bad.Example.\n192.0.2.7\n[2001:db8::7]\n")
    put("threat_feed", "urls", b"\x02http://evil.example/x?y=1#f\nHTTPS://user@Bad.Example:443/\n"
        b"http://[2001:db8::1]:8080/p\n")
    put("threat_feed", "csv", b'\x03# id,dateadded,url,url_status\n"1","2026-01-01","http://evil.example/a","online"\n')
    put("threat_feed", "cidr", b"\x04; Spamhaus DROP\n192.0.2.0/24 ; SBL1\n2001:db8::/32\n198.51.100.7\n")


if __name__ == "__main__":
    hellos()
    smtp()
    spool()
    lists()
    policies()
    icap()
    threats()
    print("seeds written to", CORPUS, file=sys.stderr)
