"""Fairlearn's side of the fairness benchmark (bench/fairness.ts): MetricFrame on a predictions file, timed.

Run with the environment fairness-reference/ensure.ts installs (Fairlearn 0.15 and its pinned dependencies):

  fairness_metricframe.py FILE --label COL --prediction COL --sensitive COL,COL

The timed part is what a data scientist would run: pandas.read_csv of the whole file, one MetricFrame with
selection rate, TPR, FPR, FNR and precision over the sensitive columns together (their intersection), then
difference() and ratio(). Fairlearn has no interval here (its bootstrap is off), ours has them. Prints one JSON
object: rows, seconds, peak RSS, and the per-group rates so the caller can check that both engines computed the
same thing.
"""

import argparse
import functools
import json
import resource
import time

import fairlearn
import fairlearn.metrics as flm
import pandas as pd
from sklearn.metrics import precision_score

METRICS = {
    "selection_rate": flm.selection_rate,
    "true_positive_rate": flm.true_positive_rate,
    "false_positive_rate": flm.false_positive_rate,
    "false_negative_rate": flm.false_negative_rate,
    # zero_division named so that a group without predicted positives gives 0 without a warning.
    "precision": functools.partial(precision_score, zero_division=0),
}


def main():
    parser = argparse.ArgumentParser(prog="fairness_metricframe.py")
    parser.add_argument("file")
    parser.add_argument("--label", required=True)
    parser.add_argument("--prediction", required=True)
    parser.add_argument("--sensitive", required=True)
    args = parser.parse_args()
    sensitive = args.sensitive.split(",")

    started = time.perf_counter()
    cpu_started = time.process_time()
    df = pd.read_csv(args.file)
    mf = flm.MetricFrame(
        metrics=METRICS,
        y_true=df[args.label],
        y_pred=df[args.prediction],
        sensitive_features=df[sensitive],
    )
    difference = mf.difference()
    ratio = mf.ratio()
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started

    by_group = mf.by_group
    print(
        json.dumps(
            {
                "fairlearn": fairlearn.__version__,
                "pandas": pd.__version__,
                "rows": len(df),
                "seconds": seconds,
                # User and system CPU of all its threads over the same span (pandas and NumPy may use several).
                "cpu_seconds": cpu_seconds,
                # ru_maxrss is in KiB on Linux.
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "groups": len(by_group),
                "rates": {
                    " × ".join(str(v) for v in key): {m: float(row[m]) for m in METRICS} for key, row in by_group.iterrows()
                },
                "difference": {m: float(v) for m, v in difference.items()},
                "ratio": {m: float(v) for m, v in ratio.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
