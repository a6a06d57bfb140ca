"""Fairlearn's own numbers for a predictions file: the reference our fairness engine is tested against.

Run with the environment fairness-reference/ensure.ts installs (Fairlearn 0.15, pinned pandas, scikit-learn,
statsmodels). Two modes, each printing exactly one JSON object on stdout:

  metricframe.py metrics FILE --label COL --prediction COL --sensitive COL[,COL...] [--weight COL] [--positive V]
      For each sensitive feature alone and for the intersection of all of them (when there are several):
      MetricFrame's by_group, difference() and ratio() per metric, and fairlearn.metrics'
      demographic_parity_difference/ratio, equalized_odds_difference/ratio, equal_opportunity_difference/ratio,
      all with the weight column as sample_weight.

  metricframe.py wilson
      Reads [{"successes": k, "n": n, "level": 0.95}, ...] on stdin and prints
      {"intervals": [{"successes", "n", "level", "low", "high"}, ...]} from statsmodels'
      proportion_confint(method="wilson").

NaN (an empty intersection in by_group, an undefined ratio) is printed as null, since JSON has no NaN.
"""

import argparse
import functools
import json
import math
import sys

import fairlearn
import fairlearn.metrics as flm
import pandas as pd
from sklearn.metrics import precision_score
from statsmodels.stats.proportion import proportion_confint

# precision_score's default zero_division="warn" returns 0.0 with a warning when a group has no predicted
# positives; 0 is named here so the value is the same without the warning.
METRICS = {
    "selection_rate": flm.selection_rate,
    "true_positive_rate": flm.true_positive_rate,
    "false_positive_rate": flm.false_positive_rate,
    "false_negative_rate": flm.false_negative_rate,
    "precision": functools.partial(precision_score, zero_division=0),
}

FAIRNESS_FUNCTIONS = {
    "demographic_parity_difference": flm.demographic_parity_difference,
    "demographic_parity_ratio": flm.demographic_parity_ratio,
    "equalized_odds_difference": flm.equalized_odds_difference,
    "equalized_odds_ratio": flm.equalized_odds_ratio,
    "equal_opportunity_difference": flm.equal_opportunity_difference,
    "equal_opportunity_ratio": flm.equal_opportunity_ratio,
}


def number(x):
    x = float(x)
    return None if math.isnan(x) else x


def fail(message):
    print(f"metricframe.py: {message}", file=sys.stderr)
    sys.exit(2)


def read_frame(args):
    # Everything as text: a group "01" stays "01", and the label is compared with --positive as written.
    try:
        df = pd.read_csv(args.file, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        fail(f"cannot read {args.file}: {e}")
    sensitive = [c for c in args.sensitive.split(",") if c]
    wanted = [args.label, args.prediction, *sensitive] + ([args.weight] if args.weight else [])
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        fail(f"{args.file} has no column {', '.join(missing)} (it has {', '.join(df.columns)})")
    if len(df) == 0:
        fail(f"{args.file} has no rows")
    y_true = (df[args.label] == args.positive).astype(int)
    y_pred = (df[args.prediction] == args.positive).astype(int)
    weight = pd.to_numeric(df[args.weight]) if args.weight else None
    return df, y_true, y_pred, sensitive, weight


def report(features, y_true, y_pred, weight, name):
    sw = None if weight is None else weight.to_numpy()
    mf = flm.MetricFrame(
        metrics=METRICS,
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=features,
        sample_params=None if sw is None else {m: {"sample_weight": sw} for m in METRICS},
    )
    counts = flm.MetricFrame(
        metrics=flm.count, y_true=y_true, y_pred=y_pred, sensitive_features=features
    ).by_group
    groups = []
    for key, row in mf.by_group.iterrows():
        values = list(key) if isinstance(key, tuple) else [key]
        count = counts.loc[key]
        groups.append(
            {
                "group": [str(v) for v in values],
                # An empty intersection has no count in Fairlearn's frame (NaN): it has no rows.
                "count": 0 if pd.isna(count) else int(count),
                "metrics": {m: number(row[m]) for m in METRICS},
            }
        )
    return {
        "feature": name,
        "columns": list(features.columns),
        "by_group": groups,
        "difference": {m: number(v) for m, v in mf.difference().items()},
        "ratio": {m: number(v) for m, v in mf.ratio().items()},
        "fairness": {
            n: number(f(y_true, y_pred, sensitive_features=features, sample_weight=sw))
            for n, f in FAIRNESS_FUNCTIONS.items()
        },
    }


def metrics_mode(args):
    df, y_true, y_pred, sensitive, weight = read_frame(args)
    features = [report(df[[c]], y_true, y_pred, weight, c) for c in sensitive]
    if len(sensitive) > 1:
        features.append(report(df[sensitive], y_true, y_pred, weight, ",".join(sensitive)))
    print(
        json.dumps(
            {
                "fairlearn": fairlearn.__version__,
                "rows": len(df),
                "features": features,
            }
        )
    )


def wilson_mode():
    try:
        requests = json.load(sys.stdin)
    except json.JSONDecodeError as e:
        fail(f"stdin is not JSON: {e}")
    out = []
    for r in requests:
        k, n, level = r["successes"], r["n"], r["level"]
        # No trials, no interval: statsmodels would divide by zero.
        low, high = (math.nan, math.nan) if n == 0 else proportion_confint(k, n, alpha=1 - level, method="wilson")
        out.append({"successes": k, "n": n, "level": level, "low": number(low), "high": number(high)})
    print(json.dumps({"intervals": out}))


def main():
    parser = argparse.ArgumentParser(prog="metricframe.py")
    sub = parser.add_subparsers(dest="mode", required=True)
    m = sub.add_parser("metrics")
    m.add_argument("file")
    m.add_argument("--label", required=True)
    m.add_argument("--prediction", required=True)
    m.add_argument("--sensitive", required=True)
    m.add_argument("--weight")
    m.add_argument("--positive", default="1")
    sub.add_parser("wilson")
    args = parser.parse_args()
    if args.mode == "metrics":
        metrics_mode(args)
    else:
        wilson_mode()


if __name__ == "__main__":
    main()
