"""Probe (issue 12, round 10): does a non-linear classifier beat the linear SVM on the real Madrid reports?

    .venv/bin/pip install torch==2.13.0     # not a project dependency; CPU build, from this machine's disk
    .venv/bin/python benchmarks/nlu_mlp_probe.py [--fold 0] [--hidden 256] [--epochs 3]

Madrid reports only (``data/nlu/real/madrid.tsv``; Fuente: Ayuntamiento de Madrid), fold ``--fold`` of the same 5
stratified folds (seed 0) as ``benchmarks/nlu_reference.py``, the reference's features (TF-IDF word 1–2 + char 2–5,
sublinear, min_df 2).  Prints the accuracy of the reference LinearSVC, then per epoch that of a one-hidden-layer
network over the same sparse features (``EmbeddingBag`` weighted by the TF-IDF values = a sparse linear layer, ReLU,
dropout 0.3, softmax; SparseAdam/Adam, lr 1e-3, batch 32) and of the average of the two (the SVM's decision values
through a softmax of temperature 1/4, mixed with the network's probabilities at weight a).  Top-1 accuracy, no
threshold: the question is whether the ranking gets better, not the calibration.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    import numpy as np
    import torch
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import StratifiedKFold
    from sklearn.svm import LinearSVC
    from torch import nn

    from nlu.data import load_training_data
    from reporta.settings import DEFAULT_DATA_DIR

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    real = load_training_data(DEFAULT_DATA_DIR / "nlu").real
    texts = [t for t, _ in real]
    gold = np.array([y for _, y in real])
    classes = sorted(set(gold))
    y = np.array([classes.index(g) for g in gold])
    train, test = list(StratifiedKFold(5, shuffle=True, random_state=0).split(texts, gold))[args.fold]
    tr, te = [texts[i] for i in train], [texts[i] for i in test]
    word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    char = TfidfVectorizer(analyzer="char", ngram_range=(2, 5), sublinear_tf=True, min_df=2)
    x_tr = sparse.hstack([word.fit_transform(tr), char.fit_transform(tr)]).tocsr()
    x_te = sparse.hstack([word.transform(te), char.transform(te)]).tocsr()
    t0 = time.perf_counter()
    decision = LinearSVC().fit(x_tr, y[train]).decision_function(x_te)
    y_te = y[test]
    print(f"fold {args.fold}: {x_tr.shape[0]} train, {x_te.shape[0]} test, {x_tr.shape[1]} features")
    print(f"LinearSVC: {np.mean(decision.argmax(1) == y_te):.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    p_svm = np.exp(4 * (decision - decision.max(1, keepdims=True)))
    p_svm /= p_svm.sum(1, keepdims=True)

    class Net(nn.Module):
        def __init__(self, n: int, h: int, c: int) -> None:
            super().__init__()
            self.emb = nn.EmbeddingBag(n, h, mode="sum", sparse=True)
            nn.init.normal_(self.emb.weight, std=0.02)
            self.bias = nn.Parameter(torch.zeros(h))
            self.drop = nn.Dropout(0.3)
            self.out = nn.Linear(h, c)

        def forward(self, idx: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
            return self.out(self.drop(torch.relu(self.emb(idx, offsets, per_sample_weights=weights) + self.bias)))

    def batch(x: sparse.csr_matrix, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        sub = x[rows]
        return (
            torch.from_numpy(sub.indices.astype(np.int64)),
            torch.from_numpy(sub.indptr[:-1].astype(np.int64)),
            torch.from_numpy(sub.data.astype(np.float32)),
        )

    net = Net(x_tr.shape[1], args.hidden, len(classes))
    sparse_opt = torch.optim.SparseAdam(list(net.emb.parameters()), lr=1e-3)
    dense_opt = torch.optim.Adam([net.bias, *net.out.parameters()], lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    y_tr = torch.from_numpy(y[train])
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        net.train()
        order = rng.permutation(x_tr.shape[0])
        for s in range(0, len(order), 32):
            rows = order[s : s + 32]
            sparse_opt.zero_grad()
            dense_opt.zero_grad()
            loss_fn(net(*batch(x_tr, rows)), y_tr[rows]).backward()
            sparse_opt.step()
            dense_opt.step()
        net.eval()
        with torch.no_grad():
            p = np.vstack(
                [
                    torch.softmax(net(*batch(x_te, np.arange(s, min(s + 2048, x_te.shape[0])))), 1).numpy()
                    for s in range(0, x_te.shape[0], 2048)
                ]
            )
        mixed = ", ".join(f"a {a}: {np.mean((a * p_svm + (1 - a) * p).argmax(1) == y_te):.4f}" for a in (0.3, 0.5, 0.7))
        print(
            f"epoch {epoch + 1}: network {np.mean(p.argmax(1) == y_te):.4f}; SVM + network {mixed} "
            f"({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
