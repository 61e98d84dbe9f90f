"""A small asyncio HTTP/1.1 keep-alive load generator for `make bench` (no dependencies).

Reads a JSON spec on stdin, prints a JSON result on stdout:

    {"host": "127.0.0.1", "port": 8000, "method": "GET", "concurrency": 64,
     "duration": 3.0, "max_requests": 20000, "timeout": 10.0,
     "clients": [{"path": "/x", "headers": {"cookie": "..."}, "bodies": ["{...}", ...]}, ...]}

Client i (one keep-alive connection each) uses clients[i % len(clients)] and cycles through its
bodies. Every connection is opened before the clock starts. Clients stop starting requests at
the deadline or when max_requests have been started; a request that takes longer than `timeout`
counts as an error (its connection is dropped and reopened). Latency percentiles are over 2xx
answers; errors are counted by kind (HTTP status, timeout, connection).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any

SAMPLE_BYTES = 500


class Conn:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_error = ""  # the body of the last answer >= 400 (its start)

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, raw: bytes) -> int:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, chunked, close = 0, False, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and "close" in value.lower():
                close = True
        if chunked:
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length:
            body = await self.reader.readexactly(length)
            if status >= 400:
                self.last_error = body[:SAMPLE_BYTES].decode("utf-8", "replace")
        if close:
            self.close()
        return status


def build_request(method: str, host: str, port: int, path: str, headers: dict[str, str],
                  body: str | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    data = body.encode() if body is not None else b""
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


def percentile(sorted_ms: list[float], q: float) -> float | None:
    if not sorted_ms:
        return None
    index = min(len(sorted_ms) - 1, max(0, round(q * len(sorted_ms) + 0.5) - 1))
    return round(sorted_ms[index], 2)


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    host, port, method = spec["host"], int(spec["port"]), spec["method"]
    concurrency, timeout = int(spec["concurrency"]), float(spec.get("timeout", 10.0))
    duration, max_requests = float(spec["duration"]), int(spec.get("max_requests", 10**9))
    clients = spec["clients"]
    requests: list[list[bytes]] = []
    for i in range(concurrency):
        c = clients[i % len(clients)]
        bodies = c.get("bodies") or [None]
        requests.append([build_request(method, host, port, c["path"], c.get("headers", {}), b)
                         for b in bodies])

    conns = [Conn(host, port) for _ in range(concurrency)]
    errors: Counter[str] = Counter()
    samples: dict[str, str] = {}  # the first answer's body of each error kind: what went wrong
    opened = await asyncio.gather(*(asyncio.wait_for(c.open(), timeout) for c in conns),
                                  return_exceptions=True)
    for result in opened:
        if isinstance(result, BaseException):
            errors["connect"] += 1

    latencies: list[float] = []
    started = 0
    t0 = time.perf_counter()
    deadline = t0 + duration

    async def client(i: int) -> None:
        nonlocal started
        conn, mine, n = conns[i], requests[i], 0
        while time.perf_counter() < deadline and started < max_requests:
            started += 1
            raw = mine[n % len(mine)]
            n += 1
            t = time.perf_counter()
            try:
                status = await asyncio.wait_for(conn.request(raw), timeout)
            except TimeoutError:
                errors["timeout"] += 1
                conn.close()
                continue
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                errors["connection"] += 1
                conn.close()
                await asyncio.sleep(0.05)
                continue
            if 200 <= status < 300:
                latencies.append((time.perf_counter() - t) * 1000)
            else:
                errors[f"http_{status}"] += 1
                samples.setdefault(f"http_{status}", conn.last_error)

    await asyncio.gather(*(client(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - t0
    for c in conns:
        c.close()
    latencies.sort()
    ok = len(latencies)
    return {
        "concurrency": concurrency, "requests": ok + sum(errors.values()) - errors["connect"],
        "ok": ok, "errors": sum(errors.values()), "error_kinds": dict(errors), "error_samples": samples,
        "elapsed_s": round(elapsed, 3), "rps": round(ok / elapsed, 1) if elapsed else 0.0,
        "p50_ms": percentile(latencies, 0.50), "p95_ms": percentile(latencies, 0.95),
        "p99_ms": percentile(latencies, 0.99), "max_ms": round(latencies[-1], 2) if latencies else None,
        **({"latencies_ms": [round(x, 3) for x in latencies]} if spec.get("return_latencies") else {}),
    }


def main() -> None:
    spec = json.load(sys.stdin)
    print(json.dumps(asyncio.run(run(spec))))


if __name__ == "__main__":
    main()
