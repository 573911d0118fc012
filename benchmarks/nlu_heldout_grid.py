"""The written held-out sets and the pothole free-text set under model settings given on the command line.

    .venv/bin/python benchmarks/nlu_heldout_grid.py [--real-weight 0.25] [--floor 1.0] [--thresholds 0.5,0.4]

Trains one model on ``data/nlu`` (hand-written examples + the Madrid reports, Fuente: Ayuntamiento de Madrid) with
the given ``REAL_WEIGHT`` / ``WRITTEN_WEIGHT_FLOOR`` (module defaults otherwise) and prints
:func:`nlu.evaluate.heldout_summary` at each threshold: the other side of the Madrid trade-off curve.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from nlu import model
    from nlu.data import load_training_data
    from nlu.evaluate import heldout_summary, heldout_text
    from reporta.settings import DEFAULT_DATA_DIR

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real-weight", type=float, default=model.REAL_WEIGHT)
    ap.add_argument("--floor", type=float, default=model.WRITTEN_WEIGHT_FLOOR)
    ap.add_argument("--thresholds", default="0.5")
    args = ap.parse_args()
    model.WRITTEN_WEIGHT_FLOOR = args.floor
    data = load_training_data(DEFAULT_DATA_DIR / "nlu")
    t0 = time.process_time()
    fitted = model.fit(data.examples, data.lookups, data.real, real_weight=args.real_weight)
    print(f"real weight {args.real_weight}, floor {args.floor}: trained in {time.process_time() - t0:.0f} s CPU")
    for th in (float(x) for x in args.thresholds.split(",")):
        print(f"-- threshold {th}")
        print(heldout_text(heldout_summary(model.BuiltinParser(fitted, threshold=th).parse,
                                           Path(__file__).resolve().parents[1] / "tests" / "nlu" / "data")))


if __name__ == "__main__":
    main()
