"""The patient-privacy detector on the labelled set: recall, precision, false alarms, throughput.

Prints, for the tuning part and the held-out part of tests/data/phi_labelled.jsonl separately:
recall (messages with identifiers that are flagged), precision (flagged messages that hold
identifiers), the false-alarm rate on ordinary messages, and per-kind recall. Then the detector's
throughput against a baseline measured in the same run: one `str.lower()` pass over the same
messages (the least any per-message text check costs).

    .venv/bin/python benchmarks/phi_guard.py
    .venv/bin/python benchmarks/phi_guard.py --show-errors   # print what it got wrong
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from chatbridge.services.phi_detector import detect

SET = Path(__file__).resolve().parent.parent / "tests" / "data" / "phi_labelled.jsonl"


def load(path: Path) -> list[dict[str, object]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def report(name: str, rows: Sequence[dict[str, object]], show_errors: bool) -> None:
    tp = fp = fn = tn = 0
    by_kind: dict[str, list[int]] = {}
    for row in rows:
        text = str(row["text"])
        scan = detect(text)
        positive = row["label"] == 1
        if positive and scan.flagged:
            tp += 1
        elif positive:
            fn += 1
        elif scan.flagged:
            fp += 1
        else:
            tn += 1
        for kind in row["kinds"]:  # type: ignore[attr-defined]
            hit = by_kind.setdefault(str(kind), [0, 0])
            hit[1] += 1
            hit[0] += kind in scan.kinds
        if show_errors and positive != scan.flagged:
            label = "missed" if positive else "false alarm"
            print(f"  {label}: {text!r} -> {','.join(scan.kinds) or '-'}")
    recall = tp / (tp + fn) if tp + fn else 1.0
    precision = tp / (tp + fp) if tp + fp else 1.0
    false_alarms = fp / (fp + tn) if fp + tn else 0.0
    print(
        f"{name:8} {len(rows):4} messages ({tp + fn} with identifiers, {fp + tn} ordinary): "
        f"recall {recall:.3f}  precision {precision:.3f}  false alarms {false_alarms:.1%} ({fp}/{fp + tn})"
    )
    kinds = "  ".join(f"{kind} {hit[0]}/{hit[1]}" for kind, hit in sorted(by_kind.items()))
    print(f"         kinds found (exact kind): {kinds}")


def throughput(texts: Sequence[str], check: Callable[[str], object], rounds: int) -> float:
    """Messages per second, the best of `rounds` passes over `texts` (on a shared machine the
    other passes measure the neighbours as much as the code)."""
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        for text in texts:
            check(text)
        rates.append(len(texts) / (time.perf_counter() - started))
    return max(rates)


def per_message(texts: Sequence[str], rounds: int) -> list[float]:
    """Each message's cost in µs, the least of `rounds` timings of 20 calls, sorted."""
    costs = []
    for text in texts:
        best = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(20):
                detect(text)
            best = min(best, (time.perf_counter() - started) / 20)
        costs.append(best * 1e6)
    return sorted(costs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--set", type=Path, default=SET, help="the labelled JSONL file")
    parser.add_argument("--show-errors", action="store_true", help="print each miss and false alarm")
    parser.add_argument("--rounds", type=int, default=5, help="timing passes (the best is taken)")
    args = parser.parse_args()
    rows = load(args.set)
    for split in ("tune", "holdout"):
        report(split, [r for r in rows if r["split"] == split], args.show_errors)
    report("all", rows, False)

    texts = [str(r["text"]) for r in rows] * 20
    ordinary = [str(r["text"]) for r in rows if r["label"] == 0] * 40
    baseline = throughput(texts, str.lower, args.rounds)
    rate = throughput(texts, detect, args.rounds)
    ordinary_rate = throughput(ordinary, detect, args.rounds)
    for name, label in (("ordinary", 0), ("identifying", 1)):
        costs = per_message([str(r["text"]) for r in rows if r["label"] == label], args.rounds)
        print(
            f"cost per {name} message: median {statistics.median(costs):.1f} µs, "
            f"p90 {costs[int(len(costs) * 0.9)]:.1f} µs, max {costs[-1]:.1f} µs"
        )
    print(
        f"throughput: detector {rate:,.0f} msg/s on the whole set, {ordinary_rate:,.0f} msg/s on ordinary "
        f"messages; str.lower() baseline {baseline:,.0f} msg/s (detector = {rate / baseline:.4f}x baseline, "
        f"{1e6 / rate:.1f} µs per message)"
    )


if __name__ == "__main__":
    main()
