#!/usr/bin/env python3
"""Probe tokens for the token-checking peers of benches/load.sh.

    BENCH_SECRET=... python3 benches/load/jwt.py

Prints `NAME TOKEN` lines, one per probe, all signed with HMAC-SHA256 under
BENCH_SECRET (the raw secret string every peer is configured with) unless
the name says otherwise. Each probe is a token a careful checker refuses,
except `valid`. benches/load/peers.sh sends them to every peer: some must
be refused by all (the run stops otherwise), the others fill the table of
what each peer checks (docs/PERFORMANCE.md).

Standard library only; the payloads are written as text, so that a
duplicate member stays duplicate.
"""

import base64
import hashlib
import hmac
import os
import time


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(header: str, payload: str, key: bytes, digest=hashlib.sha256) -> str:
    signing_input = b64url(header.encode()) + "." + b64url(payload.encode())
    mac = hmac.new(key, signing_input.encode(), digest).digest()
    return signing_input + "." + b64url(mac)


def main() -> None:
    key = os.environ["BENCH_SECRET"].encode()
    now = int(time.time())
    past, future, later = now - 3600, now + 7200, now + 3600
    hs256 = '{"alg":"HS256","typ":"JWT"}'
    claims = '"did":"ZGV2aWNlLWlkLWZvci1sb2FkLXRlc3Q=","ip":"203.0.113.7"'
    ok = '{"exp":%d,%s}' % (future, claims)
    probes = [
        ("valid", sign(hs256, ok, key)),
        # signed with HS256 but the header names HS512: the alg must be pinned
        ("alg-HS512-signed-HS256", sign('{"alg":"HS512","typ":"JWT"}', ok, key)),
        ("alg-none", b64url(b'{"alg":"none"}') + "." + b64url(ok.encode()) + "."),
        ("wrong-key", sign(hs256, ok, b"another secret of thirty-two bytes!!")),
        ("expired", sign(hs256, '{"exp":%d,%s}' % (past, claims), key)),
        ("no-exp", sign(hs256, "{%s}" % claims, key)),
        ("nbf-in-1h", sign(hs256, '{"exp":%d,"nbf":%d,%s}' % (future, later, claims), key)),
        ("exp-not-a-number", sign(hs256, '{"exp":"%d",%s}' % (future, claims), key)),
        # duplicate members: a parser that keeps the first sees one, the last the other
        ("dup-exp-expired-first", sign(hs256, '{"exp":%d,"exp":%d,%s}' % (past, future, claims), key)),
        ("dup-exp-expired-last", sign(hs256, '{"exp":%d,"exp":%d,%s}' % (future, past, claims), key)),
        ("dup-alg-HS512-last", sign('{"alg":"HS256","alg":"HS512"}', ok, key)),
        ("dup-alg-HS256-last", sign('{"alg":"HS512","alg":"HS256"}', ok, key)),
        ("typ-not-JWT", sign('{"alg":"HS256","typ":"at+jwt"}', ok, key)),
        ("crit-unknown", sign('{"alg":"HS256","crit":["x-unknown"],"x-unknown":1}', ok, key)),
        ("kid-unknown", sign('{"alg":"HS256","kid":"no-such-key"}', ok, key)),
        ("payload-not-json", sign(hs256, "not json", key)),
        ("payload-array", sign(hs256, "[%d]" % future, key)),
        ("trailing-garbage", sign(hs256, ok + "x", key)),
    ]
    for name, token in probes:
        print(name, token)


if __name__ == "__main__":
    main()
