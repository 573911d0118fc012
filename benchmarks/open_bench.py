"""Open data and Open311 at scale: 1,000,000 tickets on PostgreSQL, served by the real app over HTTP.

Fills a throw-away database with ``benchmarks/store_bench.py``'s COPY fill, serves ``reporta.app`` with uvicorn
on 127.0.0.1 and measures with httpx:

- ``GET /open311/v2/requests.json``: the default query (last 90 days, newest 50) and filtered ones (one service
  and status; a date window with page_size 1000): median and p95 of ``--runs`` requests;
- ``GET /datos/reportes.csv``: time to the first byte, rows per second over the whole export, and the server
  process's resident memory (RSS) sampled while it streams (the server is its own process, like in production).

Targets (issue 11): requests.json <= 300 ms, export >= 50,000 rows/s, memory flat while exporting.

    .venv/bin/python benchmarks/open_bench.py                 # 1,000,000 tickets, then drop the database
    .venv/bin/python benchmarks/open_bench.py --tickets 100000 --runs 10
    # fill once (niced, outside the measuring lock), then measure an existing database as often as needed:
    nice -n 10 .venv/bin/python benchmarks/open_bench.py --fill-only --name export_bench_1m
    .venv/bin/python benchmarks/open_bench.py --url postgresql+psycopg://postgres@127.0.0.1:5432/export_bench_1m \
        --formats csv,json,geojson

The fill gives 90 % of the tickets a written address with a house number (hardly two alike, as in real life:
``public_address`` cannot be answered from a memo) and a fifth of them a staff public note (20 texts, two with a
phone number or an e-mail address).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import throwaway_db
from benchmarks.store_bench import _psycopg_url, create_database, fill
from reporta.app import create_app
from reporta.runtime import Runtime
from reporta.settings import Settings

STREETS = ("Hidalgo", "Juárez", "Morelos", "Zaragoza", "Padre Mier", "Av. Constitución", "Calle 5 de Mayo",
           "Av. Revolución", "Madero", "Allende", "Guerrero", "Aramberri", "Ruperto Martínez", "Washington",
           "Av. Universidad", "Lincoln", "Av. Ruiz Cortines", "Calle 16 de Septiembre", "Degollado", "Villagrán")
COLONIAS = ("Centro", "Obrera", "Independencia", "Mitras Centro", "Del Valle", "Contry", "Roma", "Cumbres",
            "Anáhuac", "Linda Vista", "Moderna", "Terminal", "Industrial", "Buenos Aires", "Valle Verde")
NOTES = ("Cuadrilla en camino", "Se programó la reparación", "Atendido por la cuadrilla 3",
         "Material solicitado al almacén", "Se requiere presupuesto del próximo ejercicio",
         "Informes al 81 8130 6565", "Escriba a atencion@municipio.gob.mx", "Revisado en sitio, sin daño visible",
         "Se canalizó a la CFE", "Pendiente de visita", "Reparado, gracias por reportar",
         "La zona se inspeccionará el lunes", "Se limpió el área", "Bache tapado con mezcla asfáltica",
         "Se colocó señalización", "Lámpara sustituida", "Se retiró la basura", "Poda realizada",
         "Fuga controlada por Agua y Drenaje", "En espera de material")


def furnish(url: str, *, notes: bool = True) -> float:
    """Addresses (with house numbers, colonias, some postcodes) and staff public notes on the filled tickets."""
    import psycopg

    started = time.perf_counter()
    streets = "ARRAY[" + ",".join(f"'{s}'" for s in STREETS) + "]"
    colonias = "ARRAY[" + ",".join(f"'{c}'" for c in COLONIAS) + "]"
    texts = "ARRAY[" + ",".join(f"'{n}'" for n in NOTES) + "]"
    with psycopg.connect(_psycopg_url(url), autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SELECT setseed(0.42)")  # random() below: reproducible, and hardly two addresses alike
        conn.execute(f"""UPDATE tickets SET address = ({streets})[1 + floor(random() * {len(STREETS)})::int]
            || ' ' || (1 + floor(random() * 2900))::text || ', col. '
            || ({colonias})[1 + floor(random() * {len(COLONIAS)})::int]
            || CASE WHEN random() < 0.25 THEN ', C.P. 64' || lpad(floor(random() * 1000)::text, 3, '0') ELSE '' END
            WHERE id % 10 <> 0""")
        if notes:
            conn.execute(f"""INSERT INTO ticket_events (ticket_id, kind, actor, public_note, data, created_at)
                SELECT id, 'note', 'staff:bench', ({texts})[1 + (id * 17) % {len(NOTES)}], '{{}}', updated_at
                FROM tickets WHERE id % 5 = 0""")
        conn.execute("VACUUM ANALYZE tickets")
        conn.execute("VACUUM ANALYZE ticket_events")
    return time.perf_counter() - started


def keep(url: str) -> tuple[float, int]:
    """``reporta opendata keep-addresses`` over the filled tickets (the COPY fill bypasses the ORM)."""
    from ticketing.db import make_engine, make_session_factory
    from web.opendata.addresses import keep_addresses

    started = time.perf_counter()
    engine = make_engine(url)
    try:
        written = keep_addresses(make_session_factory(engine))
    finally:
        engine.dispose()
    return time.perf_counter() - started, written


def rss_mb(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (the server), from /proc."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stats(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(ordered) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms (n={len(ordered)})"


def time_get(client: httpx.Client, path: str, runs: int) -> tuple[list[float], int]:
    client.get(path)  # warm the plan cache and the pool
    samples = []
    count = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        resp = client.get(path)
        resp.raise_for_status()
        count = len(resp.json())
        samples.append(time.perf_counter() - t0)
    return samples, count


def backend_pids(url: str) -> list[int]:
    """The PostgreSQL backends connected to the bench database (the server's pool), to read their CPU time."""
    import psycopg

    with psycopg.connect(_psycopg_url(url), autocommit=True) as conn:
        return [pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]


def backends_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):  # a backend that went away
            total += cpu_seconds(pid)
    return total


def time_export(client: httpx.Client, path: str, pid: int, url: str) -> None:
    client.get("/open311/v2/requests.json")  # the pool has its connections
    backends = backend_pids(url)
    backend_before = backends_cpu(backends)
    peak = [rss_mb(pid)]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak.append(rss_mb(pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    before = rss_mb(pid)
    cpu_before = cpu_seconds(pid)
    sampler.start()
    t0 = time.perf_counter()
    first_byte = None
    lines = 0
    size = 0
    with client.stream("GET", path, timeout=None) as resp:
        resp.raise_for_status()
        for chunk in resp.iter_bytes():
            if first_byte is None:
                first_byte = time.perf_counter() - t0
            lines += chunk.count(b"\n")
            size += len(chunk)
    total = time.perf_counter() - t0
    cpu = cpu_seconds(pid) - cpu_before
    backend_cpu = backends_cpu(backends) - backend_before
    stop.set()
    sampler.join()
    rows = lines - (1 if path.endswith(".csv") else 2)  # the CSV header; the JSON's "[" ... "\n]\n"
    quarter = peak[len(peak) // 4:]
    print(f"{path}: first byte {first_byte * 1000:.0f} ms; {rows:,} rows, {size / 1e6:.0f} MB in {total:.1f} s = "
          f"{rows / total:,.0f} rows/s")
    print(f"  server CPU: {cpu:.1f} s = {rows / cpu:,.0f} rows per CPU-second (load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"  PostgreSQL backends' CPU: {backend_cpu:.1f} s; server + PostgreSQL: "
          f"{rows / (cpu + backend_cpu):,.0f} rows per CPU-second")
    print(f"  RSS: {before:.0f} MB before, peak {max(peak):.0f} MB while streaming "
          f"(from the first quarter on: {min(quarter):.0f}–{max(quarter):.0f} MB), {rss_mb(pid):.0f} MB after")


def serve(url: str, port: int) -> None:
    """The server process: the real app over the bench database (no channels, no processing)."""
    var = Path(os.environ.get("TMPDIR", "/tmp")) / "reporta-open-bench"
    settings = Settings(_env_file=None, database_url=url, var_dir=var, scheduler_enabled=False, log_level="WARNING")
    runtime = Runtime.from_settings(settings, migrate=False, channels=False, store_only=True)
    try:
        uvicorn.run(create_app(runtime, background=False), host="127.0.0.1", port=port, log_level="warning",
                    lifespan="on")
    finally:
        runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default=os.environ.get(
        "REPORTA_BENCH_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--keep", action="store_true", help="Keep the database (prints its URL).")
    parser.add_argument("--fill-only", action="store_true", help="Fill the database --name, keep it, measure nothing.")
    parser.add_argument("--name", default=None, help="The database to fill (default: a random throw-away name).")
    parser.add_argument("--url", default=None, help="Measure this already filled database (not dropped).")
    parser.add_argument("--no-kept-addresses", action="store_true",
                        help="Fill without keeping the public addresses (every export cleans every address).")
    parser.add_argument("--refurnish", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--formats", default="csv", help="Exports to time, comma-separated: csv,json,geojson.")
    parser.add_argument("--serve", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return

    if args.url:
        url, args.keep = args.url, True
    elif args.name:
        url = create_database(args.admin_url, args.name)
    else:
        url = throwaway_db.create(args.admin_url)
    try:
        if not args.url:
            seconds = fill(url, args.tickets)
            print(f"filled {args.tickets:,} tickets with COPY (+ VACUUM ANALYZE) in {seconds:.1f} s")
            print(f"addresses and public notes in {furnish(url):.1f} s")
        if args.refurnish:
            print(f"addresses again in {furnish(url, notes=False):.1f} s")
        if not args.no_kept_addresses and (not args.url or args.refurnish):
            seconds, written = keep(url)
            print(f"kept {written:,} public addresses (reporta opendata keep-addresses) in {seconds:.1f} s")
        if args.fill_only:
            args.keep = True
            return
        port = free_port()
        proc = subprocess.Popen([sys.executable, __file__, "--serve", url, str(port)])
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("the server process did not start") from None
                time.sleep(0.2)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                for label, path in [
                    ("requests.json default (last 90 days, newest 50)", "/open311/v2/requests.json"),
                    ("requests.json service_code=pothole&status=open",
                     "/open311/v2/requests.json?service_code=pothole&status=open"),
                    ("requests.json status=closed&page=5", "/open311/v2/requests.json?status=closed&page=5"),
                    ("requests.json 30-day window, page_size=1000",
                     "/open311/v2/requests.json?start_date=2026-01-01T00:00:00-06:00"
                     "&end_date=2026-01-31T00:00:00-06:00&page_size=1000"),
                    ("requests.xml default", "/open311/v2/requests.xml"),
                    ("/datos (counts by service, cached a minute)", "/datos"),
                ]:
                    if ".json" not in path:
                        samples = []
                        for _ in range(args.runs):
                            t0 = time.perf_counter()
                            client.get(path).raise_for_status()
                            samples.append(time.perf_counter() - t0)
                        print(f"{label}: {stats(samples)}")
                        continue
                    samples, count = time_get(client, path, args.runs)
                    print(f"{label}: {stats(samples)}; {count} requests returned")
                for fmt in args.formats.split(","):
                    time_export(client, f"/datos/reportes.{fmt.strip()}", proc.pid, url)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    finally:
        if args.keep:
            print(f"kept {url}")
        else:
            throwaway_db.drop(args.admin_url, url)


if __name__ == "__main__":
    main()
