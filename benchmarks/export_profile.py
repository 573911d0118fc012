"""The open data exports in-process, to profile them: CPU seconds of one export of every ticket of a database
(the fast path, or ``--reference``), with the per-process memos cold (``--cold``, what a real export meets) or
warm, and with ``--profile`` the top of a ``cProfile`` of it.

    .venv/bin/python benchmarks/export_profile.py postgresql+psycopg://postgres@127.0.0.1:5432/DB --cold --profile
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reporta.runtime import Runtime
from reporta.settings import Settings
from web import publication
from web.opendata.exports import EXPORTS, export_rows, reference_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("--format", default="csv", choices=sorted(EXPORTS))
    parser.add_argument("--reference", action="store_true", help="The reference path instead of the fast one.")
    parser.add_argument("--cold", action="store_true", help="Clear the scrub/public_address memos first.")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    var = Path("/tmp/reporta-export-profile")
    settings = Settings(_env_file=None, database_url=args.url, var_dir=var, scheduler_enabled=False,
                        log_level="WARNING")
    runtime = Runtime.from_settings(settings, migrate=False, channels=False, store_only=True)
    chunks = EXPORTS[args.format][0]
    rows_of = reference_rows if args.reference else export_rows

    def run() -> int:
        return sum(len(chunk) for chunk in chunks(rows_of(runtime, [])))

    try:
        run()  # warm the connection pool, the catalog and (unless --cold) the memos
        if args.cold:
            publication.scrub.cache_clear()
            publication.public_address.cache_clear()
        profiler = cProfile.Profile() if args.profile else None
        wall, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        size = run()
        if profiler:
            profiler.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"{'reference' if args.reference else 'fast'} {args.format}: {size / 1e6:.1f} MB in {wall:.2f} s, "
              f"{cpu:.2f} CPU-s{' (profiled)' if profiler else ''}")
        if profiler:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
    finally:
        runtime.close()


if __name__ == "__main__":
    main()
