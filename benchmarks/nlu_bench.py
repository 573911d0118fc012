"""NLU benchmark (a script, not a test): training time, single-message parse latency p50/p99, throughput, memory.

    .venv/bin/python benchmarks/nlu_bench.py [--data data/nlu] [--n 5000]

Run it pinned to one core for the "p50 on one core" figure: ``taskset -c 0 .venv/bin/python benchmarks/...``.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    from nlu.data import load_training_data
    from nlu.model import BuiltinParser, load_or_train, train
    from reporta.settings import DEFAULT_DATA_DIR

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR / "nlu")
    ap.add_argument("--n", type=int, default=5000, help="messages for latency/throughput")
    args = ap.parse_args()

    rss0 = rss_mb()
    t0 = time.perf_counter()
    train(args.data)
    train_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as cache:
        model = load_or_train(args.data, Path(cache))
    parser = BuiltinParser(model)
    examples = [t for t, _ in load_training_data(args.data).examples]
    rng = random.Random(0)
    msgs = [rng.choice(examples) for _ in range(args.n)]
    msgs += ["Buenas tardes. " + "La luminaria de mi calle sigue apagada y nadie viene, " * 100] * 20
    for m in msgs[:200]:
        parser.parse(m)
    lat = []
    for m in msgs:
        t = time.perf_counter()
        parser.parse(m)
        lat.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    for m in msgs:
        parser.parse(m)
    throughput = len(msgs) / (time.perf_counter() - t)
    lat.sort()
    q = statistics.quantiles(lat, n=100)
    print(f"examples trained on:   {model.n_examples}")
    print(f"training time:         {train_s:.2f} s")
    print(f"parse latency p50:     {q[49]:.3f} ms")
    print(f"parse latency p99:     {q[98]:.3f} ms")
    print(f"parse latency max:     {lat[-1]:.3f} ms (5,000-character messages included)")
    print(f"throughput:            {throughput:,.0f} messages/s (one thread)")
    print(f"RSS before training:   {rss0:.0f} MB")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RSS with model loaded: {rss_mb():.0f} MB (peak {peak:.0f} MB)")


if __name__ == "__main__":
    main()
