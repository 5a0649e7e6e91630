"""The estimation benchmark's tables (bench_estimation.py): per drill and method, the first night flagged, the
estimate's mean absolute error against the realized figure, its interval coverage, and the self-grading alert."""

from __future__ import annotations

import numpy as np
from tabular_mlops.stats.business_value import CellValues
from tabular_mlops.stats.estimate_grading import NightFigures, grade_estimates

# Importance weighting with the domain classifier as it was before its budget (bench_estimation --importance-before).
BEFORE = "importance_weighting_before"


def night_figures(rows: list[dict], method: str, metric: str) -> list[NightFigures]:
    out = []
    for r in rows:
        est = r[method]["metrics"][metric]
        out.append(
            NightFigures(
                f"{r['night']:03d}",
                est["value"],
                est["lower"],
                est["upper"],
                r["realized"]["metrics"][metric]["value"],
            )
        )
    return out


def nannyml_figures(
    rows: list[dict], nml_rows: list[dict], metric: str, z: float | None
) -> list[NightFigures]:
    """NannyML's estimates: its shipped band (value +- 3 sampling errors) when z is None, else value +- z of them."""
    out = []
    for r, n in zip(rows, nml_rows, strict=True):
        m = n[metric]
        lower, upper = (
            (m["lower"], m["upper"])
            if z is None
            else (m["value"] - z * m["sampling_error"], m["value"] + z * m["sampling_error"])
        )
        out.append(
            NightFigures(
                f"{r['night']:03d}", m["value"], lower, upper, r["realized"]["metrics"][metric]["value"]
            )
        )
    return out


def flagged_nights(figures: list[NightFigures], floor: float) -> list[int]:
    return [int(f.night) for f in figures if f.estimate is not None and f.estimate < floor]


def guarded_flags(rows: list[dict], floor: float) -> list[int]:
    """Nights where CBPE or importance weighting estimates a drop, or where importance weighting finds tonight's
    rows outside the reference (then no estimate can vouch for the model: the suggested decision rule)."""
    out = []
    for r in rows:
        cbpe = r["cbpe"]["metrics"]["roc_auc"]["value"]
        iw = r["importance_weighting"]
        iw_value = iw["metrics"]["roc_auc"]["value"]
        no_overlap = (iw["reason"] or "").startswith("no overlap")
        if no_overlap or (cbpe is not None and cbpe < floor) or (iw_value is not None and iw_value < floor):
            out.append(int(r["night"]))
    return out


def summarize(result: dict, onset: int, margin: float, credit: CellValues) -> str:
    """The drills' tables in Markdown."""
    floor = result["reference_roc_auc"] - margin
    nml = result.get("nannyml", {})
    nml_ok = "drills" in nml
    lines = [
        f"Holdout ROC AUC {result['reference_roc_auc']:.4f}; a night is flagged when its estimated ROC AUC < {floor:.4f} "
        f"(margin {margin}); the problem starts on night {onset}. Concept-drift alert: realized outside the interval "
        "on 3 matured nights in a row (matured-night number; in production add label_delay_days).",
        "",
        "| drill | method | first flagged night | nights flagged | ROC AUC MAE | MAE from onset | coverage | withheld | alert night |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for drill, rows in result["drills"].items():
        realized = [r["realized"]["metrics"]["roc_auc"]["value"] for r in rows]
        below = [r["night"] for r, v in zip(rows, realized, strict=True) if v < floor]
        before = np.mean(realized[: onset - 1]) if onset > 1 else float("nan")
        after = np.mean(realized[onset - 1 :]) if len(realized) >= onset else float("nan")
        lines.append(
            f"| {drill} | realized | {below[0] if below else '-'} | {len(below)} | mean {before:.3f} before, "
            f"{after:.3f} from onset | | | | |"
        )
        methods = [(m, night_figures(rows, m, "roc_auc")) for m in _methods(rows)]
        if nml_ok:
            methods.append(
                ("nannyml (±3σ, shipped)", nannyml_figures(rows, nml["drills"][drill], "roc_auc", None))
            )
            methods.append(("nannyml (±1.96σ)", nannyml_figures(rows, nml["drills"][drill], "roc_auc", 1.96)))
        for name, figs in methods:
            grade = grade_estimates("roc_auc", name, figs, 3)
            late = grade_estimates("roc_auc", name, [f for f in figs if int(f.night) >= onset], 3)
            flags = flagged_nights(figs, floor)
            withheld = sum(f.estimate is None for f in figs)
            cov = "-" if grade.coverage is None else f"{grade.coverage:.0%}"
            mae = "-" if grade.mean_absolute_error is None else f"{grade.mean_absolute_error:.4f}"
            late_mae = "-" if late.mean_absolute_error is None else f"{late.mean_absolute_error:.4f}"
            alert = next((int(n.night) for n in grade.nights if n.consecutive_misses >= 3), None)
            lines.append(
                f"| {drill} | {name} | {flags[0] if flags else '-'} | {len(flags)} | {mae} | {late_mae} | {cov} | "
                f"{withheld} | {alert or '-'} |"
            )
        guarded = guarded_flags(rows, floor)
        lines.append(
            f"| {drill} | cbpe guarded by overlap | {guarded[0] if guarded else '-'} | {len(guarded)} | | | | | |"
        )
    lines += ["", "Other metrics, MAE (coverage) over all nights:", ""]
    metrics = ("pr_auc", "precision", "recall", "brier")
    lines += ["| drill | method | " + " | ".join(metrics) + " |", "| --- | --- |" + " --- |" * len(metrics)]
    for drill, rows in result["drills"].items():
        for name in (*_methods(rows), "nannyml (±1.96σ)"):
            cells = []
            for metric in metrics:
                if name.startswith("nannyml"):
                    if not nml_ok or metric == "brier":
                        cells.append("-")
                        continue
                    figs = nannyml_figures(rows, nml["drills"][drill], metric, 1.96)
                else:
                    figs = night_figures(rows, name, metric)
                g = grade_estimates(metric, name, figs, 3)
                cells.append(
                    "-"
                    if g.mean_absolute_error is None
                    else f"{g.mean_absolute_error:.4f} ({g.coverage or 0:.0%})"
                )
            lines.append(f"| {drill} | {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Business value per application (cells {credit.to_dict()}), CBPE estimate vs realized:",
        "",
    ]
    lines += [
        "| drill | mean realized | mean estimated | MAE per row | coverage |",
        "| --- | --- | --- | --- | --- |",
    ]
    for drill, rows in result["drills"].items():
        est = [r["value_estimated"] for r in rows]
        real = [r["value_realized"] for r in rows]
        figs = [
            NightFigures(
                f"{i:03d}", e["per_row"], e["lower"] / e["rows"], e["upper"] / e["rows"], r["per_row"]
            )
            for i, (e, r) in enumerate(zip(est, real, strict=True))
        ]
        g = grade_estimates("value", "cbpe", figs, 3)
        lines.append(
            f"| {drill} | {np.mean([r['per_row'] for r in real]):.2f} | {np.mean([e['per_row'] for e in est]):.2f} | "
            f"{g.mean_absolute_error:.2f} | {g.coverage:.0%} |"
        )
    if BEFORE in result["drills"][next(iter(result["drills"]))][0]:
        lines += ["", *_importance_cost(result)]
    if not nml_ok:
        lines += ["", f"NannyML: not run ({nml.get('error', 'disabled with --no-nannyml')})"]
    return "\n".join(lines)


def _methods(rows: list[dict]) -> tuple[str, ...]:
    return ("cbpe", "importance_weighting", *((BEFORE,) if BEFORE in rows[0] else ()))


def _importance_cost(result: dict) -> list[str]:
    """CPU seconds of one importance-weighted estimate a night, now and before the budget (same nights)."""
    lines = [
        "Importance weighting's CPU seconds a night (median; min-max), the two designs interleaved on the same nights:",
        "",
        "| drill | now | before | ratio |",
        "| --- | --- | --- | --- |",
    ]
    for drill, rows in result["drills"].items():
        now = [r["importance_cpu_s"]["importance_weighting"] for r in rows]
        before = [r["importance_cpu_s"][BEFORE] for r in rows]
        lines.append(
            f"| {drill} | {np.median(now):.2f} ({min(now):.2f}-{max(now):.2f}) | "
            f"{np.median(before):.2f} ({min(before):.2f}-{max(before):.2f}) | "
            f"{np.median(before) / np.median(now):.1f}x |"
        )
    return lines
