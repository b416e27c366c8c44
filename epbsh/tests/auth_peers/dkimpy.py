"""dkimpy (Debian python3-dkim) as a peer of the relay's mail-authentication tests.

  dkimpy.py verify NAME=RECORD...        message on stdin; prints pass/fail per signature
  dkimpy.py keygen-ed25519               prints "SEED_B64 PUBLIC_B64"
  dkimpy.py sign rsa|ed25519 DOMAIN SELECTOR KEYFILE   message on stdin, signed on stdout

DNS is answered from the NAME=RECORD arguments only (dkimpy's dnsfunc hook).
"""
import base64
import sys

import dkim


def dnsfunc(records):
    def lookup(name, timeout=5):
        key = name.decode() if isinstance(name, bytes) else name
        return records.get(key.rstrip("."), "").encode()
    return lookup


def verify(args):
    records = dict(a.split("=", 1) for a in args)
    msg = sys.stdin.buffer.read()
    d = dkim.DKIM(msg)
    n = len([h for h in d.headers if h[0].lower() == b"dkim-signature"])
    results = []
    for i in range(n):
        try:
            results.append(d.verify(idx=i, dnsfunc=dnsfunc(records)))
        except dkim.DKIMException:
            results.append(False)
    print(" ".join("pass" if r else "fail" for r in results) or "none")
    return 0 if results and all(results) else 1


def keygen_ed25519():
    import nacl.signing
    key = nacl.signing.SigningKey.generate()
    print(base64.b64encode(bytes(key)).decode(), base64.b64encode(bytes(key.verify_key)).decode())
    return 0


def sign(alg, domain, selector, keyfile):
    msg = sys.stdin.buffer.read()
    key = open(keyfile, "rb").read()
    algorithm = b"ed25519-sha256" if alg == "ed25519" else b"rsa-sha256"
    sig = dkim.sign(msg, selector.encode(), domain.encode(), key, signature_algorithm=algorithm,
                    canonicalize=(b"relaxed", b"relaxed"),
                    include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    sys.stdout.buffer.write(sig + msg)
    return 0


if __name__ == "__main__":
    cmd, rest = sys.argv[1], sys.argv[2:]
    if cmd == "verify":
        sys.exit(verify(rest))
    if cmd == "keygen-ed25519":
        sys.exit(keygen_ed25519())
    if cmd == "sign":
        sys.exit(sign(*rest))
    sys.exit("unknown command " + cmd)
