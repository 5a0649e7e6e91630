"""`tabular-mlops init`, second half: the profiled proposal written into a params file, with the keys that
follow from what was observed (null limits, monitoring volume, thresholds against the base rate, schedules)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from typing import Any

from tabular_mlops.core.config import BanditSection, EvaluateConfig
from tabular_mlops.data.table_proposal import ProfileError, Proposal


def _flow(value: Any) -> str:
    """One value in YAML flow style; text that YAML would read as something else (yes, no, 1.0) is quoted."""
    import yaml

    return str(yaml.safe_dump([value], default_flow_style=True, sort_keys=False, width=10**6).strip()[1:-1])


def render_schema(proposal: Proposal) -> str:
    """The `schema:` section as text, each proposal explained in a comment beside it."""
    s = proposal.schema
    width = max(len(_flow(name)) for name in s["features"]) + 1
    lines = [
        "schema:",
        f"  # Proposed by `tabular-mlops init` from {proposal.rows} rows of table {s['table']}: review every line",
        "  # (types, ranges, categories, nullable), then regenerate the suite: python -m tabular_mlops.data.validate",
        *(f"  {key}: {_flow(s[key])}" for key in ("table", "id_column", "timestamp_column", "target_column")),
        "  # The target's raw values: positive_label becomes 1, each negative label 0 (any other value stops a batch).",
        f"  positive_label: {_flow(s['positive_label'])}",
        f"  negative_labels: {_flow(s['negative_labels'])}",
        f"  # Base rate of the positive label: {proposal.base_rate:.4f}. Read gate thresholds against it: a model",
        f"  # that always answers the base rate has Brier {proposal.base_rate * (1 - proposal.base_rate):.4f}; "
        f"a random ranking has PR AUC {proposal.base_rate:.4f}.",
        "  # Days until a row's label is known (init cannot see it from the data): set it.",
        f"  label_delay_days: {s['label_delay_days']}",
        "  features:",
    ]
    for name, spec in s["features"].items():
        # _flow quotes a name YAML would misread (`Unnamed: 0`, `visits: total`, `yes`), so the file loads.
        lines.append(f"    {_flow(name) + ':':<{width}} {_flow(spec)}  # {proposal.feature_notes[name]}")
    if proposal.left_out:
        lines.append("  # Left out (add them under features if they are model inputs):")
        lines += [f"  #   {name}: {why}" for name, why in proposal.left_out.items()]
    return "\n".join(lines) + "\n"


def _section_span(lines: list[str], section: str) -> tuple[int, int]:
    """[first, end) line indexes of a top-level section (its comments above the next section excluded)."""
    try:
        first = next(i for i, line in enumerate(lines) if line.rstrip() == f"{section}:")
    except StopIteration:
        raise ProfileError(f"the params file has no top-level `{section}:` section") from None
    end = next((i for i in range(first + 1, len(lines)) if lines[i][:1] not in ("", " ", "#")), len(lines))
    while end > first + 1 and lines[end - 1].startswith("#"):
        end -= 1
    return first, end


def set_key(text: str, section: str, key: str, value: Any, why: str = "") -> str:
    """Replace the one-line `  key: ...` of a section (with `why` as its comment), keeping everything else."""
    lines = text.splitlines()
    first, end = _section_span(lines, section)
    for i in range(first + 1, end):
        if lines[i].startswith(f"  {key}:"):
            lines[i] = f"  {key}: {_flow(value)}" + (f"  # init: {why}" if why else "")
            return "\n".join(lines) + "\n"
    raise ProfileError(f"the params file has no one-line `{section}.{key}` to update")


# evaluate's one key, named by the config class (the same word is also a model-version tag in contracts).
THRESHOLD_KEY = dataclasses.fields(EvaluateConfig)[0].name


def _round_up(x: float, step: float) -> float:
    return round(math.ceil(x / step - 1e-9) * step, 6)


def _word(name: str) -> str:
    """A column name as one lower-case word for the service's decisions (`Moved Out` -> `moved_out`)."""
    return re.sub(r"\W+", "_", name).strip("_").lower() or "positive"


def observed_updates(proposal: Proposal) -> list[tuple[str, str, Any, str]]:
    """(section, key, value, why) of every setting that follows from what init saw in the table."""
    s, rate, daily = proposal.schema, proposal.base_rate, max(proposal.daily_rows, 1.0)
    start = dt.date.fromisoformat(proposal.first_day) + dt.timedelta(days=s["label_delay_days"])
    # A column's missing share plus room for its night-to-night noise: a night like the profiled ones passes.
    nulls = min(1.0, _round_up(proposal.max_missing + max(0.05, proposal.max_missing / 2), 0.01))
    # Monitoring decides on a window of nights: about 3.5 nights' rows (at most the example's 500, at least 30),
    # over enough nights that the window holds twice that.
    min_rows = int(min(500, max(30, round(daily * 3.5))))
    window = int(min(90, max(7, math.ceil(2 * min_rows / daily))))
    # A night's row count is Poisson-like around the mean: 4 standard deviations (4 / sqrt(mean) relative) is
    # noise, not a broken feed (18 rows against a mean of 11 is +64%, within 4/sqrt(11) = 121%).
    tolerance = max(0.5, _round_up(4 / math.sqrt(daily), 0.01))
    volume = f"{daily:g} rows a day (median)"
    return [
        ("dags", "start_date", start.isoformat(), "first day + label_delay_days"),
        ("validate", "min_rows", max(1, proposal.min_daily_rows // 2), "half the smallest day seen"),
        ("validate", "max_null_fraction", nulls, f"largest missing share seen {proposal.max_missing:.1%}"),
        ("monitor", "max_missing_rate", nulls, f"largest missing share seen {proposal.max_missing:.1%}"),
        ("monitor", "min_rows", min_rows, f"about 3.5 nights at {volume}"),
        ("monitor", "window_days", window, f"nights that hold 2 x min_rows at {volume}"),
        ("monitor", "row_count_tolerance", tolerance, f"Poisson noise (4 / sqrt(rows a day)) at {volume}"),
        ("evaluate", THRESHOLD_KEY, {"rule": "target_flag_rate", "rate": round(rate, 4)},
         "flag the base rate's share of rows"),
        ("gate", "min_pr_auc", round(min(0.95, rate * 1.25), 4), f"1.25 x the base rate {rate:.4f} (random ranking)"),
        ("simulate", "live_source", False, "your table is the source: never write simulated rows into it"),
        # The example's approve / decline are loan words: the service answers in words made from the target.
        ("serving", "high_risk_decision", f"{_word(s['target_column'])}_likely", "score >= the decision threshold"),
        ("serving", "low_risk_decision", f"{_word(s['target_column'])}_unlikely", "score below it"),
        ("registry", "model_name", s["table"], ""),
        ("registry", "experiment_name", f"{s['table']}_training", ""),
        ("monitor", "experiment_name", f"{s['table']}_monitoring", ""),
        # The example's key features and per-column tests name its own columns: choose yours.
        ("monitor", "key_features", [], "choose your own"),
        ("monitor", "column_tests", {}, "choose your own"),
        # The example's credit figures mean nothing for another table: the user fills in what a decision is worth.
        *(("business_value", cell, None, "yours to fill in: the value of one row in this cell (all four, or none)")
          for cell in ("true_negative", "false_negative", "false_positive", "true_positive")),
        # Without business value, the bandit is rewarded by the right decision (gaussian once the cells are set).
        ("deploy", "bandit", dataclasses.asdict(BanditSection()), "reward: gaussian once business_value is set"),
    ]  # fmt: skip


def params_text(base: str, proposal: Proposal) -> str:
    """`base` (a params.yaml) with the proposed schema and the keys that follow from it; the rest unchanged."""
    lines = base.splitlines()
    first, end = _section_span(lines, "schema")
    text = "\n".join([*lines[:first], render_schema(proposal).rstrip("\n"), "", *lines[end:]]) + "\n"
    for section, key, value, why in observed_updates(proposal):
        text = set_key(text, section, key, value, why)
    s = proposal.schema
    return _wording_for(text, s["target_column"], s["positive_label"])


def _wording_for(text: str, target: str, positive: Any) -> str:
    """The base file's `wording` names the example's domain (loans, defaults): say what this table's score is."""
    lines = text.splitlines()
    try:
        first, end = _section_span(lines, "wording")
    except ProfileError:  # no wording section: the defaults already speak of the target column
        return text
    wording = [
        "wording:",
        "  # What the score means and what a row is, in the model card, reports and alerts: edit to your domain.",
        f"  score: {_flow(f'probability that {target} is {positive}')}",
        "  row: row",
        "  rows: rows",
        f"  positive_rate: {_flow(f'rate of {target} = {positive}')}",
    ]
    return "\n".join([*lines[:first], *wording, *lines[end:]]) + "\n"
