"""`make bench`: EventMart's HTTP endpoints against a one-statement FastAPI baseline, same run.

    .venv/bin/python bench/http_bench.py [--duration 3] [--rounds 2] [--clients 16,64,256]
                                         [--processes 1,2] [--lag-samples 100]

Starts a throwaway embedded PostgreSQL (temp directory, Unix socket; never ./var nor a server
of your own) with pg_stat_statements preloaded, then two servers on 127.0.0.1: our app
(bench/serve_app.py: `eventmart serve`, whose workers connect as another role)
and bench/baseline_app.py. Prepares users, a vendor shop and items through the API, then for
each client count and endpoint runs baseline and app alternately (ABBA over `--rounds`), each
run bounded by `--duration` seconds and `--max-requests`, from a separate load process
(bench/loadgen.py, HTTP/1.1 keep-alive, one connection per client, `--timeout` per request
counted as an error). pg_stat_statements is reset before every run; statements per request are
the calls of the server's own role divided by the answers it gave. CPU per request, by process
(the server, its API processes, PostgreSQL, the load generator), comes from /proc.

Endpoints (each client has its own user, so per-user endpoints never contend on one aggregate):
- cart add: `POST /api/v1/consumer/cart/add` (item cycles over the shop's items) vs
  baseline `POST /insert` (one INSERT);
- wallet: `GET /api/v1/consumer/wallet` vs baseline `GET /select/{key}` (one SELECT by key);
- order history: `GET /api/v1/consumer/order/history` vs the same SELECT.

With `--processes 1,2` every cell is measured with the app (`eventmart serve --workers N`: N API
processes, the workers once in the parent) and the baseline at 1, then at 2 server processes.

Lag from commit to read-model row (bench/lag.py): idle before each process count's load, and
under the load of every cart-add run of the app (a probe samples beside the HTTP writers).

Prints a table and writes the "http" section of bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: E402

from adapters.database import start_embedded  # noqa: E402
from bench.baseline_app import row_key  # noqa: E402
from bench.lag import LagProbe, percentiles  # noqa: E402
from bench.results import write_section  # noqa: E402
from projections import tracking  # noqa: E402
from runtime.settings import get_settings  # noqa: E402

API_ROLE, WORKERS_ROLE, BASE_ROLE, PROBE_ROLE = "bench_api", "bench_workers", "bench_baseline", "bench_probe"
APP_DB, BASE_DB = "eventmart_bench", "baseline_bench"
PG_SETTINGS = {"shared_preload_libraries": "pg_stat_statements", "pg_stat_statements.track_utility": "on",
               "pg_stat_statements.track_planning": "on"}
PASSWORD = "bench-pass-1"
# A cart line holds at most 99 (MAX_QTY_PER_LINE). With 5 items, a client whose connection one
# of 2 API processes served nearly alone made 500 adds in two rounds and was answered 400
# ("qty ... got 100"); 50 items hold 4,950.
ITEMS = 50
# Registration and sign-in are preparation, not measured: a cheap argon2 makes them quick.
HASH_MEMORY_KIB = "1024"

ENDPOINTS = {
    "cart add": {"app": ("POST", "/api/v1/consumer/cart/add"), "baseline": ("POST", "/insert"),
                 "kind": "write"},
    "wallet": {"app": ("GET", "/api/v1/consumer/wallet"), "baseline": ("GET", "/select/{key}"),
               "kind": "read"},
    "order history": {"app": ("GET", "/api/v1/consumer/order/history"),
                      "baseline": ("GET", "/select/{key}"), "kind": "read"},
}
TARGETS = {"write": 0.5, "read": 0.8}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_by_pid() -> tuple[dict[int, int], dict[int, float]]:
    """Every process's parent and CPU seconds (user + system) so far, from /proc (Linux;
    elsewhere nothing, and the bench reports no CPU figures)."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for entry in Path("/proc").glob("[0-9]*") if Path("/proc/self/stat").exists() else ():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        parents[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    return parents, cpu


def tree_cpu(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named process and everything it started; "<name> children"
    for what it started alone (a server's API processes). A process that ended is not
    counted: measure between two calls while the processes live."""
    parents, cpu = _cpu_by_pid()
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    out: dict[str, float] = {}
    for name, root in roots.items():
        below, todo = 0.0, list(children.get(root, []))
        while todo:
            pid = todo.pop()
            below += cpu.get(pid, 0.0)
            todo += children.get(pid, [])
        out[name] = cpu.get(root, 0.0) + below
        out[f"{name} children"] = below
    return out


def url_for(server_url: str, dbname: str, role: str) -> str:
    params = conninfo_to_dict(server_url)
    params.update(dbname=dbname, user=role)
    params.pop("password", None)
    return make_conninfo("", **params)


class Server:
    def __init__(self, name: str, script: str, port: int, env: dict[str, str], log: Path,
                 processes: int = 1) -> None:
        self.name, self.port, self.log = name, port, log
        self.out = log.open("ab")
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / script), "--port", str(port),
                                      "--processes", str(processes)],
                                     env=env, cwd=ROOT, stdout=self.out, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{port}"

    def wait_ready(self, path: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.base + path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise SystemExit(f"{self.name} not ready after {timeout}s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()


def check(r: httpx.Response, what: str) -> httpx.Response:
    if r.status_code >= 300:
        raise SystemExit(f"preparing: {what} answered {r.status_code}: {r.text[:500]}")
    return r


def signed_in(base: str, email: str, role: str) -> str:
    """Register and sign in through the API; the session cookie's value."""
    with httpx.Client(base_url=base, timeout=30) as c:
        check(c.post("/auth/register", json={"email": email, "password": PASSWORD, "role": role}),
              "register")
        r = check(c.post("/auth/login", json={"email": email, "password": PASSWORD}), "login")
        return str(r.cookies["eventmart_session"])


def prepare(app: Server, env: dict[str, str], customers: int) -> dict[str, Any]:
    """An admin (CLI), a category, a vendor with an open shop and items, customers (API)."""
    tag = uuid.uuid4().hex[:8]
    admin_email = f"admin-{tag}@bench.example.com"
    subprocess.run([str(Path(sys.executable).parent / "eventmart"), "users", "create", "--role", "admin",
                    "--email", admin_email, "--password", PASSWORD], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    cookie = "eventmart_session"
    with httpx.Client(base_url=app.base, timeout=30) as c:
        r = check(c.post("/auth/login", json={"email": admin_email, "password": PASSWORD}), "admin login")
        c.cookies.set(cookie, str(r.cookies[cookie]))
        check(c.post("/v1/admin/categories", json={"slug": "bench", "name": "Bench"}), "category")
    vendor = signed_in(app.base, f"vendor-{tag}@bench.example.com", "vendor")
    products = []
    with httpx.Client(base_url=app.base, timeout=30, cookies={cookie: vendor}) as c:
        shop = check(c.post("/v1/vendor/shops", json={
            "name": "Bench Grocery", "city": "Pune", "society": "Bench Park", "shop_type": "grocery"}),
            "shop").json()
        check(c.post(f"/v1/vendor/shops/{shop['id']}/status", json={"is_open": True}), "open shop")
        for k in range(ITEMS):
            p = check(c.post(f"/v1/vendor/shops/{shop['id']}/products", json={
                "name": f"Bench item {k}", "category": "bench",
                "variants": [{"sku": "B", "price": 1000 + k, "stock": 1_000_000}]}), "product").json()
            products.append(p["id"])
    with ThreadPoolExecutor(8) as pool:
        cookies = list(pool.map(lambda i: signed_in(app.base, f"c{i}-{tag}@bench.example.com", "customer"),
                                range(customers)))
    return {"products": products, "cookies": cookies}


def load(port: int, method: str, clients: list[dict[str, Any]], concurrency: int, args: Any) -> dict[str, Any]:
    spec = {"host": "127.0.0.1", "port": port, "method": method, "concurrency": concurrency,
            "duration": args.duration, "max_requests": args.max_requests, "timeout": args.timeout,
            "clients": clients, "return_latencies": True}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "loadgen.py")], input=json.dumps(spec),
                          capture_output=True, text=True, timeout=args.duration + args.timeout + 60)
    if done.returncode != 0:
        raise SystemExit(f"loadgen failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


class Stats:
    """pg_stat_statements, read from the postgres database as the superuser."""

    def __init__(self, server_url: str) -> None:
        self.conn = psycopg.connect(server_url, autocommit=True)
        self.conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    def reset(self) -> None:
        self.conn.execute("SELECT pg_stat_statements_reset()")

    def calls(self, role: str, dbname: str, top: int = 0) -> tuple[int, list[dict[str, Any]]]:
        where = ("FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid "
                 "JOIN pg_database d ON d.oid = s.dbid WHERE r.rolname = %s AND d.datname = %s")
        total = self.conn.execute(f"SELECT coalesce(sum(calls), 0) {where}", (role, dbname)).fetchone()
        rows = self.conn.execute(
            f"SELECT calls, round((total_plan_time + total_exec_time)::numeric, 1), "
            f"regexp_replace(left(query, 200), '\\s+', ' ', 'g') {where} "
            "ORDER BY calls DESC LIMIT %s", (role, dbname, top)).fetchall() if top else []
        return int(total[0] if total else 0), [{"calls": n, "ms": float(ms), "query": q}
                                               for n, ms, q in rows]


def settle(app_url: str, app: Server, probe_cookie: str | None, limit: float) -> float:
    """Wait (bounded) until the workers have caught up and, with `probe_cookie`, the app answers
    a signed-in request: the next run starts from a quiet state whatever the last one left."""
    started = time.monotonic()
    deadline = started + limit
    lagging: dict[str, int] = {}
    with psycopg.connect(app_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            lagging = {}
            for follower, application, position in conn.execute(  # workers that are running
                    "SELECT follower, application, position FROM follower_positions "
                    "WHERE heartbeat_at > now() - interval '15 seconds'").fetchall():
                head = conn.execute(f'SELECT coalesce(max(notification_id), 0) FROM "{application}_events"'
                                    ).fetchone()
                caught_up = getattr(tracking, "caught_up", None)  # a log read in transaction order
                behind = (not caught_up(conn, follower, application, head[0]) if caught_up and head
                          else bool(head and head[0] > position))
                if head and behind:
                    lagging[f"{follower}/{application}"] = max(1, head[0] - position)
            if not lagging:
                break
            time.sleep(0.2)
    answered = None
    while probe_cookie and time.monotonic() < deadline:
        try:
            answered = httpx.get(app.base + "/auth/me", headers={"Cookie": f"eventmart_session={probe_cookie}"},
                                 timeout=2).status_code
            if answered == 200:
                break
        except httpx.HTTPError as e:
            answered = type(e).__name__
        time.sleep(0.5)
    took = round(time.monotonic() - started, 2)
    if took >= limit:
        print(f"  (not settled after {limit:.0f}s: lagging {lagging or 'none'}, probe {answered})", flush=True)
    return took


def percentile(sorted_ms: list[float], q: float) -> float | None:
    if not sorted_ms:
        return None
    return round(sorted_ms[min(len(sorted_ms) - 1, max(0, round(q * len(sorted_ms) + 0.5) - 1))], 2)


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = sorted(x for r in runs for x in r["latencies_ms"])
    ok = sum(r["ok"] for r in runs)
    answered = sum(r["ok"] + sum(v for k, v in r["error_kinds"].items() if k.startswith("http_"))
                   for r in runs)
    elapsed = sum(r["elapsed_s"] for r in runs)
    calls = sum(r["statements"] for r in runs)
    kinds: dict[str, int] = {}
    for r in runs:
        for k, v in r["error_kinds"].items():
            kinds[k] = kinds.get(k, 0) + v
    out = {"runs": len(runs), "ok": ok, "errors": sum(r["errors"] for r in runs), "error_kinds": kinds,
           "elapsed_s": round(elapsed, 2), "rps": round(ok / elapsed, 1) if elapsed else 0.0,
           "p50_ms": percentile(latencies, 0.5), "p95_ms": percentile(latencies, 0.95),
           "p99_ms": percentile(latencies, 0.99),
           "statements": calls, "statements_per_request": round(calls / answered, 2) if answered else None}
    if "worker_statements" in runs[0]:
        worker_calls = sum(r["worker_statements"] for r in runs)
        out["worker_statements_per_request"] = round(worker_calls / answered, 2) if answered else None
    if answered and all(r.get("cpu_s") for r in runs):
        # CPU per answered request, by process: where a request's cost goes on a shared machine.
        out["cpu_ms_per_request"] = {k: round(sum(r["cpu_s"][k] for r in runs) * 1000 / answered, 2)
                                     for k in runs[0]["cpu_s"]}
    return out


def fmt(v: Any, spec: str = "") -> str:
    return "-" if v is None else format(v, spec)


def _load_cpu() -> float:
    """CPU seconds of the load generators that ended so far (this process's waited children)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_cells(args: Any, levels: list[int], endpoints: list[str], app: Server, base: Server, app_url: str,
              stats: Stats, readers: list[str], carters: list[str], prep: dict[str, Any], processes: int,
              probe: LagProbe, runs: list[dict[str, Any]], offset: int, postmaster: int) -> int:
    """Every (clients, endpoint) cell at this process count, baseline and app alternating; the
    lag probe samples beside every app run of cart add. Returns the next unused cart user."""
    app_recovers = True
    for level in levels:
        for endpoint in endpoints:
            meta = ENDPOINTS[endpoint]
            if endpoint == "cart add":  # fresh users per level and process count: carts stay small
                users, offset = carters[offset:offset + level], offset + level
                app_clients = [{"path": meta["app"][1], "headers": {"Cookie": f"eventmart_session={u}"},
                                "bodies": [json.dumps({"item_id": p, "quantity": 1})
                                           for p in prep["products"]]} for u in users]
                base_clients = [{"path": "/insert", "bodies": [json.dumps(
                    {"key": str(uuid.uuid4()), "data": {"item_id": p, "quantity": 1}})
                    for p in prep["products"]]} for _ in users]
            else:
                app_clients = [{"path": meta["app"][1], "headers": {"Cookie": f"eventmart_session={u}"}}
                               for u in readers[:level]]
                base_clients = [{"path": f"/select/{row_key(i)}"} for i in range(level)]
            stalled = False
            for rnd in range(args.rounds):
                order = ("baseline", "app") if rnd % 2 == 0 else ("app", "baseline")
                for which in order:
                    if which == "app" and stalled:
                        continue
                    # A stalled app frees its stuck requests only when they time out in the
                    # server (pool timeout): wait for that once; if it does not recover, later
                    # app runs start anyway and count what fails.
                    if which == "app":
                        settled = settle(app_url, app, readers[0], 35.0 if app_recovers else 5.0)
                        app_recovers = settled < (35.0 if app_recovers else 5.0)
                    else:
                        settled = settle(app_url, app, None, 15.0)
                    stats.reset()
                    server, clients = (app, app_clients) if which == "app" else (base, base_clients)
                    method = meta[which][0]
                    probing = which == "app" and endpoint == "cart add"
                    if probing:
                        probe.start()
                    roots = {"server": server.proc.pid, "postgres": postmaster}
                    cpu_before, load_before = tree_cpu(roots), _load_cpu()
                    result = load(server.port, method, clients, level, args)
                    cpu_after, load_after = tree_cpu(roots), _load_cpu()
                    if probing:
                        result["lag_ms"] = probe.stop()
                    result["cpu_s"] = {k: round(cpu_after[k] - cpu_before[k], 3) for k in cpu_after}
                    result["cpu_s"]["load generator"] = round(load_after - load_before, 3)
                    role, db = (API_ROLE, APP_DB) if which == "app" else (BASE_ROLE, BASE_DB)
                    result["statements"], result["top_statements"] = stats.calls(role, db, top=20)
                    if which == "app":
                        result["worker_statements"], result["worker_top_statements"] = stats.calls(
                            WORKERS_ROLE, APP_DB, top=20)
                    result.update(endpoint=endpoint, server=which, round=rnd, settle_s=settled,
                                  processes=processes)
                    runs.append(result)
                    print(f"  {processes}p {endpoint:<13} {level:>3} clients {which:<8} round {rnd}: "
                          f"{result['rps']:>7} req/s  p99 {fmt(result['p99_ms'])} ms  "
                          f"errors {result['errors']} {result['error_kinds'] or ''}  "
                          f"stmts {result['statements']}", flush=True)
                    for kind, body in result.get("error_samples", {}).items():
                        print(f"    first {kind}: {body[:300]}", flush=True)
                    if which == "app" and result["errors"] * 2 > max(1, result["requests"]):
                        stalled = True  # half or more failed: one such run is the figure
    return offset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="16,64,256", help="concurrent clients, comma-separated")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per run")
    parser.add_argument("--max-requests", type=int, default=20_000, help="requests per run at most")
    parser.add_argument("--rounds", type=int, default=2, help="runs per server and cell, alternating order")
    parser.add_argument("--timeout", type=float, default=10.0, help="per request; counted as an error")
    parser.add_argument("--endpoints", default=",".join(ENDPOINTS))
    parser.add_argument("--processes", default="1,2", help="server processes, comma-separated")
    parser.add_argument("--lag-samples", type=int, default=100, help="idle lag samples per process count")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    args = parser.parse_args()
    levels = [int(x) for x in args.clients.split(",")]
    process_counts = [int(x) for x in args.processes.split(",")]
    endpoints = [e.strip() for e in args.endpoints.split(",")]
    began = time.monotonic()
    settings = get_settings()

    with tempfile.TemporaryDirectory(prefix="eventmart-bench-") as tmp_name:
        tmp = Path(tmp_name)
        pg = start_embedded(tmp / "pg", throwaway=True, settings=PG_SETTINGS)
        postmaster = int((pg.pgdata / "postmaster.pid").read_text().split()[0])
        servers: list[Server] = []
        try:
            server_url = pg.get_uri("postgres")
            with psycopg.connect(server_url, autocommit=True) as conn:
                for role in (API_ROLE, WORKERS_ROLE, BASE_ROLE, PROBE_ROLE):
                    conn.execute(f"CREATE ROLE {role} LOGIN SUPERUSER")
                for db in (APP_DB, BASE_DB):
                    conn.execute(f"CREATE DATABASE {db}")
            app_url, base_url = url_for(server_url, APP_DB, API_ROLE), url_for(server_url, BASE_DB, BASE_ROLE)
            env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS",)}
            env.update(EVENTMART_DATA_DIR=str(tmp / "data"), PASSWORD_HASH_MEMORY_KIB=HASH_MEMORY_KIB)
            app_env = {**env, "DATABASE_URL": app_url,
                       "BENCH_WORKERS_URL": url_for(server_url, APP_DB, WORKERS_ROLE)}
            cart_users = sum(levels) * len(process_counts) if "cart add" in endpoints else 0
            top = max(levels)
            stats = Stats(server_url)
            runs: list[dict[str, Any]] = []
            lag: dict[str, Any] = {}
            prep: dict[str, Any] | None = None
            offset = 0
            for processes in process_counts:
                app = Server("app", "serve_app.py", free_port(), app_env, tmp / "app.log", processes)
                servers.append(app)
                base = Server("baseline", "baseline_app.py", free_port(), {**env, "DATABASE_URL": base_url},
                              tmp / "baseline.log", processes)
                servers.append(base)
                app.wait_ready("/readyz")
                base.wait_ready("/healthz")
                if prep is None:
                    print(f"preparing {top} reader and {cart_users} cart customers, a shop with {ITEMS} "
                          "items ...", flush=True)
                    prep = prepare(app, app_env, top + cart_users)
                    print(f"prepared in {time.monotonic() - began:.0f}s", flush=True)
                readers, carters = prep["cookies"][:top], prep["cookies"][top:]
                probe = LagProbe(url_for(server_url, APP_DB, PROBE_ROLE), prep["products"])
                settle(app_url, app, readers[0], 35.0)
                if "floor" not in lag:
                    lag["floor"] = probe.floor(args.lag_samples)
                idle_key = f"idle, {processes}p"
                lag[idle_key] = probe.idle(args.lag_samples)
                print(f"  lag {idle_key}: {lag[idle_key]}", flush=True)
                offset = run_cells(args, levels, endpoints, app, base, app_url, stats, readers, carters, prep,
                                   processes, probe, runs, offset, postmaster)
                probe.close()
                for server in (app, base):
                    server.stop()
                    servers.remove(server)
        finally:
            for s in servers:
                s.stop()
            pg.cleanup()

    rows = []
    for processes in process_counts:
        for level in levels:
            for endpoint in endpoints:
                cell = [r for r in runs if r["endpoint"] == endpoint and r["concurrency"] == level
                        and r["processes"] == processes]
                if not cell:
                    continue
                a = summarise([r for r in cell if r["server"] == "app"])
                b = summarise([r for r in cell if r["server"] == "baseline"])
                kind = ENDPOINTS[endpoint]["kind"]
                ratio = round(a["rps"] / b["rps"], 3) if b["rps"] else None
                top_statements: dict[str, int] = {}
                for r in cell:
                    if r["server"] == "app":
                        for t in r["top_statements"]:
                            top_statements[t["query"]] = top_statements.get(t["query"], 0) + t["calls"]
                row = {"endpoint": endpoint, "path": " ".join(ENDPOINTS[endpoint]["app"]),
                       "processes": processes, "clients": level, "app": a, "baseline": b, "ratio": ratio,
                       "target_ratio": TARGETS[kind],
                       "ratio_met": ratio is not None and ratio >= TARGETS[kind],
                       "errors_met": a["errors"] == 0 if level >= 256 else None,
                       "app_top_statements": sorted(
                           ({"calls": n, "query": q} for q, n in top_statements.items()),
                           key=lambda t: -int(t["calls"]))[:20]}
                lags = [x for r in cell if r["server"] == "app" for x in r.get("lag_ms", [])]
                if lags:
                    row["lag_under_load"] = percentiles(lags)
                    lag[f"under cart-add load, {processes}p x {level} clients"] = row["lag_under_load"]
                rows.append(row)
    for r in runs:
        r.pop("latencies_ms", None)
        r.pop("lag_ms", None)

    header = (f"{'endpoint':<14}{'procs':>6}{'clients':>8}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}"
              f"{'p99 ms':>9}{'errors':>8}{'base req/s':>11}{'ratio':>7}{'target':>8}{'stmts/req':>10}"
              f"{'base':>6}{'workers':>9}")
    print()
    print(header)
    print("-" * len(header))
    for row in rows:
        a, b = row["app"], row["baseline"]
        mark = "ok" if row["ratio_met"] else "MISS"
        print(f"{row['endpoint']:<14}{row['processes']:>6}{row['clients']:>8}{a['rps']:>9.1f}"
              f"{fmt(a['p50_ms'], '.1f'):>9}"
              f"{fmt(a['p95_ms'], '.1f'):>9}{fmt(a['p99_ms'], '.1f'):>9}{a['errors']:>8}{b['rps']:>11.1f}"
              f"{fmt(row['ratio'], '.2f'):>7}{'>=' + str(row['target_ratio']) + ' ' + mark:>8}"
              f"{fmt(a['statements_per_request']):>10}{fmt(b['statements_per_request']):>6}"
              f"{fmt(a.get('worker_statements_per_request')):>9}")
    if any("cpu_ms_per_request" in row["app"] for row in rows):
        print("\nCPU ms per request (app: API processes + the followers' process; "
              "PostgreSQL; load generator), app / baseline:")
        for row in rows:
            a, b = row["app"].get("cpu_ms_per_request"), row["baseline"].get("cpu_ms_per_request")
            if not a or not b:
                continue
            split = f" (API {a['server children']}, followers {round(a['server'] - a['server children'], 2)})"
            print(f"  {row['endpoint']:<14}{row['processes']}p {row['clients']:>4} clients: "
                  f"server {a['server']}{split}, postgres {a['postgres']}, load {a['load generator']}"
                  f"  /  server {b['server']}, postgres {b['postgres']}, load {b['load generator']}")
    print("\nlag from commit to read-model row (cart_view), ms:")
    floor = lag.get("floor", {}).get("p50_ms")
    for name, figures in lag.items():
        vs = (f"  (p50 {figures['p50_ms'] / floor:.0f}x the floor)" if floor and figures["p50_ms"] is not None
              and name != "floor" else "")
        print(f"  {name:<42} p50 {fmt(figures['p50_ms'])}  p99 {fmt(figures['p99_ms'])}  "
              f"max {fmt(figures['max_ms'])}  n={figures['samples']}{vs}")
    took = time.monotonic() - began
    print(f"\n{len(runs)} runs in {took:.0f}s; ratio = app req/s / baseline req/s (same clients and "
          "process count, interleaved); stmts/req from pg_stat_statements (workers: the workers' "
          "statements per request)")
    report = {
        "settings": {"duration_s": args.duration, "max_requests": args.max_requests, "rounds": args.rounds,
                     "timeout_s": args.timeout, "db_pool_size": settings.db_pool_size,
                     "event_store_pool_size": settings.event_store_pool_size,
                     "password_hash_memory_kib": int(HASH_MEMORY_KIB), "items": ITEMS,
                     "processes": process_counts},
        "total_s": round(took, 1),
        "results": rows,
        "lag": {"target_p99_ms_under_load": 100, **lag},
        "runs": runs,
    }
    write_section("http", report, args.out)
    shown = args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out
    print(f"wrote the http section of {shown}")


if __name__ == "__main__":
    main()
