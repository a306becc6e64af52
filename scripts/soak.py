#!/usr/bin/env python3
"""Soak test of the proxy's connection limits (run by scripts/soak).

Starts an upstream (this file, asyncio: 16 MiB on /big, a small JSON
otherwise) and the release proxy with its default limits, then for
--minutes runs at once: valid clients (HTTP/1 kept alive and on fresh
connections with a valid token, HTTP/2 with prior knowledge through curl),
invalid ones (bad tokens: 401, bad targets: 400), slow ones (heads
trickled a byte every 2 s, an HTTP/2 preface then a trickled frame), idle
ones (silent connections, kept-alive connections left idle) and clients
that stop reading 16 MiB answers. Each hostile client reconnects when the
proxy closes it. Every 30 s one line of figures; at the end the clients
stop, and the figures once the proxy is back at rest. Exits 1 if a valid
client saw an error or the proxy did not return to its start.
"""

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
import urllib.request

# Larger than loopback socket buffers take (a few MiB): the proxy's writes stall.
BIG = b"x" * (16 << 20)
stats = {"valid_ok": 0, "valid_err": 0, "invalid_ok": 0, "invalid_err": 0, "hostile_conns": 0}
errors = []
stop = asyncio.Event()


# ------------------------------------------------------------ upstream
async def upstream(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            target = head.split(b" ", 2)[1]
            body = BIG if target.startswith(b"/big") else b'{"ok":true}'
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


# ------------------------------------------------------------ helpers
async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
    if m:
        await reader.readexactly(int(m.group(1)))
    return status, head


async def until_closed(reader):
    try:
        while await reader.read(65536):
            pass
    except ConnectionError:
        pass


def record(kind, ok, what):
    stats[kind + ("_ok" if ok else "_err")] += 1
    if not ok and len(errors) < 20:
        errors.append(f"{time.strftime('%H:%M:%S')} {kind}: {what}")


# ------------------------------------------------------------ valid clients
async def valid_kept_alive(port, token, i):
    while not stop.is_set():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while not stop.is_set():
                writer.write(f"GET /api/k{i} HTTP/1.1\r\nHost: api.example\r\nApproov-Token: {token}\r\n\r\n".encode())
                status, _ = await read_response(reader)
                record("valid", status == 200, f"status {status}")
                await asyncio.sleep(0.02)
        except Exception as e:  # noqa: BLE001 - every failure counts
            record("valid", False, repr(e))
        finally:
            writer.close()


async def valid_fresh(port, token):
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET /api/fresh HTTP/1.1\r\nHost: api.example\r\nApproov-Token: {token}\r\nConnection: close\r\n\r\n".encode())
            status, _ = await read_response(reader)
            record("valid", status == 200, f"status {status}")
            writer.close()
        except Exception as e:  # noqa: BLE001
            record("valid", False, repr(e))
        await asyncio.sleep(0.05)


async def valid_h2(port, token):
    while not stop.is_set():
        p = await asyncio.create_subprocess_exec(
            "curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{http_version}", "--max-time", "10",
            "--http2-prior-knowledge", "-H", f"approov-token: {token}", f"http://127.0.0.1:{port}/api/h2",
            stdout=asyncio.subprocess.PIPE)
        out, _ = await p.communicate()
        record("valid", out.decode() == "200 2", f"curl h2c: {out.decode()!r}")
        await asyncio.sleep(1)


async def invalid(port):
    cases = [
        (b"GET /api/x HTTP/1.1\r\nHost: a\r\nApproov-Token: not.a.token\r\nConnection: close\r\n\r\n", 401),
        (b"GET /api/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 401),
        (b"GET /a/%2e%2e/b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 400),
    ]
    n = 0
    while not stop.is_set():
        req, want = cases[n % len(cases)]
        n += 1
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(req)
            status, _ = await read_response(reader)
            record("invalid", status == want, f"status {status}, wanted {want}")
            writer.close()
        except Exception as e:  # noqa: BLE001
            record("invalid", False, repr(e))
        await asyncio.sleep(0.05)


# ------------------------------------------------------------ hostile clients
async def hostile(port, kind, token):
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        stats["hostile_conns"] += 1
        try:
            if kind == "silent":
                await until_closed(reader)
            elif kind == "trickle":
                head = b"GET /api/slow HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"a" * 1000
                for b in head:
                    if stop.is_set() or reader.at_eof():
                        break
                    writer.write(bytes([b]))
                    await writer.drain()
                    try:
                        await asyncio.wait_for(until_closed(reader), 2)
                        break
                    except asyncio.TimeoutError:
                        pass
            elif kind == "idle_keepalive":
                writer.write(f"GET /api/idle HTTP/1.1\r\nHost: a\r\nApproov-Token: {token}\r\n\r\n".encode())
                await read_response(reader)
                await until_closed(reader)
            elif kind == "not_reading":
                writer.write(f"GET /big HTTP/1.1\r\nHost: a\r\nApproov-Token: {token}\r\n\r\n".encode())
                await writer.drain()
                # never read; the proxy closes its side after send_timeout
                for _ in range(40):
                    if stop.is_set():
                        break
                    await asyncio.sleep(1)
            elif kind == "h2_partial":
                writer.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                for b in b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x03":
                    writer.write(bytes([b]))
                    await writer.drain()
                    try:
                        await asyncio.wait_for(until_closed(reader), 2)
                        break
                    except asyncio.TimeoutError:
                        pass
                await until_closed(reader)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


# ------------------------------------------------------------ figures
def figures(pid, admin):
    status = open(f"/proc/{pid}/status").read()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    metrics = urllib.request.urlopen(f"http://{admin}/metrics", timeout=5).read().decode()
    m = {}
    for line in metrics.splitlines():
        if line.startswith("attestgate_connections") or line.startswith("attestgate_tasks"):
            name, value = line.rsplit(" ", 1)
            m[name] = float(value)
    return {"rss_mib": rss / 1024, "fds": fds, "threads": threads, "tasks": m.get("attestgate_tasks", -1),
            "open": m.get("attestgate_connections_open", -1), "metrics": m}


def line(t, f):
    closed = {k.split('"')[1]: int(v) for k, v in f["metrics"].items() if "closed_total" in k}
    print(f"{t:6.0f}s  rss {f['rss_mib']:6.1f} MiB  fds {f['fds']:4d}  threads {f['threads']:3d}  tasks {f['tasks']:5.0f}  "
          f"open {f['open']:4.0f}  valid {stats['valid_ok']}/{stats['valid_err']} err  "
          f"invalid {stats['invalid_ok']}/{stats['invalid_err']} err  hostile conns {stats['hostile_conns']}  closed {closed}",
          flush=True)


# ------------------------------------------------------------ main
async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()

    up_server = await asyncio.start_server(upstream, "127.0.0.1", 0)
    up_port = up_server.sockets[0].getsockname()[1]

    def free_port():
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        return p

    port, admin_port = free_port(), free_port()
    secret = subprocess.check_output([a.bin, "secret", "new"]).decode().strip()
    token = subprocess.check_output([a.bin, "token", "mint", "--secret-base64", secret, "--ttl", str(int(a.minutes * 60 + 600))]).decode().strip()
    config = os.path.join(a.work, "soak.toml")
    with open(config, "w") as f:
        f.write(f"""[server]
listen = ["127.0.0.1:{port}"]
threads = 2
runtime_dir = "{a.work}"
[admin]
listen = "127.0.0.1:{admin_port}"
[token]
[[token.secret]]
base64 = {{ env = "SOAK_SECRET" }}
[[route]]
name = "api"
upstream = "http://127.0.0.1:{up_port}"
""")
    log = open(os.path.join(a.work, "proxy.log"), "w")
    proxy = subprocess.Popen([a.bin, "serve", "--config", config], stdout=log, stderr=log,
                             env={**os.environ, "SOAK_SECRET": secret, "RUST_LOG": "info"})
    admin = f"127.0.0.1:{admin_port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://{admin}/readyz", timeout=1)
            break
        except Exception:  # noqa: BLE001
            time.sleep(0.05)
    # warm up, then the start figures
    for _ in range(200):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(f"GET /warm HTTP/1.1\r\nHost: a\r\nApproov-Token: {token}\r\nConnection: close\r\n\r\n".encode())
        await read_response(r)
        w.close()
    await asyncio.sleep(1)
    start = figures(proxy.pid, admin)
    print(f"soak: {a.minutes} min against {a.bin} (pid {proxy.pid}), default limits", flush=True)
    line(0, start)

    tasks = [asyncio.create_task(valid_kept_alive(port, token, i)) for i in range(8)]
    tasks += [asyncio.create_task(valid_fresh(port, token)) for _ in range(2)]
    tasks += [asyncio.create_task(valid_h2(port, token)), asyncio.create_task(invalid(port))]
    for kind, n in [("silent", 100), ("trickle", 100), ("idle_keepalive", 50), ("not_reading", 10), ("h2_partial", 20)]:
        tasks += [asyncio.create_task(hostile(port, kind, token)) for _ in range(n)]
    t0 = time.time()
    peak = dict(start)
    warmed = None
    while time.time() - t0 < a.minutes * 60:
        await asyncio.sleep(30)
        f = figures(proxy.pid, admin)
        for k in ("rss_mib", "fds", "tasks", "open"):
            peak[k] = max(peak[k], f[k])
        # the allocator keeps what the first load needed: growth is judged
        # from the first sample under load
        warmed = warmed or f
        line(time.time() - t0, f)
    stop.set()
    await asyncio.sleep(3)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    # at rest: every client connection closed, then the idle upstream
    # connections the valid clients left in the pool (closed after 60s idle)
    deadline = time.time() + 60
    while time.time() < deadline:
        end = figures(proxy.pid, admin)
        if end["open"] == 0:
            break
        await asyncio.sleep(1)
    print("clients stopped; waiting 65 s for the upstream pool's idle timeout", flush=True)
    await asyncio.sleep(65)
    end = figures(proxy.pid, admin)
    line(time.time() - t0, end)
    print("\n| figure | start | peak | end |\n|---|---|---|---|")
    for k, name in [("rss_mib", "RSS (MiB)"), ("fds", "descriptors"), ("threads", "threads"), ("tasks", "tasks (attestgate_tasks)"), ("open", "open client connections")]:
        print(f"| {name} | {start[k]:.1f} | {peak.get(k, end[k]):.1f} | {end[k]:.1f} |")
    print(f"| valid requests | | | {stats['valid_ok']} ok, {stats['valid_err']} errors |")
    print(f"| invalid requests (answered as expected) | | | {stats['invalid_ok']} ok, {stats['invalid_err']} errors |")
    print(f"| hostile connections opened | | | {stats['hostile_conns']} |")
    closed = {k.split('"')[1]: int(v) for k, v in end["metrics"].items() if "closed_total" in k}
    print(f"| connections closed by a limit | | | {closed} |")
    print(f"| RSS under load after 30 s / at the end (MiB) | | | {warmed['rss_mib']:.1f} / {end['rss_mib']:.1f} |")
    levels = {}
    with open(os.path.join(a.work, "proxy.log")) as f:
        for entry in f:
            m = re.search(r" (WARN|ERROR) (\S+): (.{0,60})", entry)
            if m:
                key = f"{m.group(1)} {m.group(2)}: {m.group(3)}"
                levels[key] = levels.get(key, 0) + 1
    print(f"| proxy warning and error lines | | | {sum(levels.values())} |")
    for k, n in sorted(levels.items(), key=lambda kv: -kv[1])[:8]:
        print(f"|   {n} x {k} | | | |")
    for e in errors:
        print("error:", e)
    proxy.terminate()
    proxy.wait(timeout=60)
    up_server.close()
    bad = stats["valid_err"] > 0 or stats["invalid_err"] > 0
    bad |= end["open"] != 0 or end["fds"] > start["fds"] + 4 or end["tasks"] > start["tasks"] + 4
    bad |= end["rss_mib"] > warmed["rss_mib"] * 1.25 + 8
    print("soak:", "FAILED" if bad else "ok")
    return 1 if bad else 0


sys.exit(asyncio.run(main()))
