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


_RSS_CHILD = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from nlu.model import BuiltinParser, load_or_train
from nlu.normalize import normalize
def rss():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            yield line.split()[0][:-1], int(line.split()[1]) / 1024
t = time.perf_counter()
parser = BuiltinParser(load_or_train(Path({data!r}), Path({cache!r})))
load_s = time.perf_counter() - t
for text in ["hay un bache enorme frente al oxxo", "si", "folio 1234-5679", "la luminaria no prende " * 200]:
    parser.parse(text)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("sklearn", "scipy", "joblib"))
print(dict(rss()), round(load_s, 3), len(heavy))
"""


def fresh_process_rss(data: Path, cache: Path) -> tuple[float, float, float, int]:
    """RSS / peak RSS (MB), load seconds and heavy modules imported, of a new process that only loads + parses."""
    import ast
    import subprocess

    code = _RSS_CHILD.format(root=str(Path(__file__).resolve().parent.parent), data=str(data), cache=str(cache))
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split("\n")
    line = out[0]
    mem_s, rest = line.rsplit("}", 1)
    mem = ast.literal_eval(mem_s + "}")
    load_s, heavy = rest.split()
    return mem["VmRSS"], mem["VmHWM"], float(load_s), int(heavy)


def main() -> None:
    import gc

    from nlu.data import load_training_data
    from nlu.model import BuiltinParser, ensure_model, load_or_train, train
    from reporta.settings import DEFAULT_DATA_DIR

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR / "nlu")
    ap.add_argument("--n", type=int, default=5000, help="messages for latency/throughput")
    ap.add_argument("--skip-train", action="store_true", help="do not time a training (use the shared cached model)")
    args = ap.parse_args()

    rss0 = rss_mb()
    with tempfile.TemporaryDirectory() as cache:
        t0, c0 = time.perf_counter(), time.process_time()
        if not args.skip_train:
            train(args.data)  # timed on its own: ensure_model may copy a model trained before (shared user cache)
        train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
        model_file = ensure_model(args.data, Path(cache))
        model_mb = model_file.stat().st_size / 1e6
        child_rss, child_peak, load_s, heavy = fresh_process_rss(args.data, Path(cache))
        model = load_or_train(args.data, Path(cache))
    parser = BuiltinParser(model)
    data = load_training_data(args.data)
    examples = [t for t, _ in data.examples]
    real = [t for t, _ in data.real]
    rng = random.Random(0)
    # Half hand-written examples (short, Mexican), half real reports (longer: median 73 characters).
    msgs = [rng.choice(examples if i % 2 or not real else real) for i in range(args.n)]
    long_msgs = ["Buenas tardes. " + "La luminaria de mi calle sigue apagada y nadie viene, " * 100] * 20
    for m in msgs[:200] + long_msgs[:2]:
        parser.parse(m)
    gc.collect()
    gc.freeze()  # the loaded model's objects never need the cyclic collector again (what a server would do)
    lat, cpu = [], []
    for m in msgs:
        t, c = time.perf_counter(), time.thread_time()
        parser.parse(m)
        cpu.append((time.thread_time() - c) * 1000)
        lat.append((time.perf_counter() - t) * 1000)
    long_lat = []
    for m in long_msgs:
        t = time.perf_counter()
        parser.parse(m)
        long_lat.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    for m in msgs:
        parser.parse(m)
    throughput = len(msgs) / (time.perf_counter() - t)
    lat.sort()
    q = statistics.quantiles(lat, n=100)
    print(f"examples trained on:   {model.n_examples} (model file {model_mb:.1f} MB)")
    print(f"training time:         {train_s:.2f} s wall, {train_cpu:.2f} s CPU (one process)")
    print(f"parse latency p50:     {q[49]:.3f} ms")
    print(f"parse latency p99:     {q[98]:.3f} ms")
    print(f"parse latency max:     {lat[-1]:.3f} ms")
    qc = statistics.quantiles(sorted(cpu), n=100)
    print(f"parse CPU time p50/p99: {qc[49]:.3f} / {qc[98]:.3f} ms (wall minus time the scheduler gave to others)")
    print(f"5,000-char messages:   median {statistics.median(long_lat):.2f} ms, max {max(long_lat):.2f} ms")
    print(f"throughput:            {throughput:,.0f} messages/s (one thread)")
    print(f"load + parse process:  RSS {child_rss:.0f} MB (peak {child_peak:.0f} MB), model load {load_s:.2f} s, "
          f"sklearn/scipy/joblib modules imported: {heavy}")
    print(f"this process (trained with scikit-learn): RSS before training {rss0:.0f} MB, now {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
