"""One distribution figure per column: the same report, drawn with fewer figures (real Evidently, small frames)."""

import datetime as dt
import re

from tabular_mlops.data.simulate import generate_day
from tabular_mlops.monitoring import evidently_figures
from tabular_mlops.monitoring.evidently_figures import one_figure_per_column

COLUMNS = ["income", "age", "home_ownership"]


def _report_html() -> str:
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import MissingValueCount
    from evidently.presets import DataSummaryPreset

    definition = DataDefinition(numerical_columns=["income", "age"], categorical_columns=["home_ownership"])
    reference = generate_day(dt.date(2026, 1, 1), 300, 1)[COLUMNS]
    current = generate_day(dt.date(2026, 1, 2), 300, 2)[COLUMNS]
    snapshot = Report([DataSummaryPreset(columns=COLUMNS), MissingValueCount(column="income")]).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
        timestamp=dt.datetime(2026, 1, 2),
    )
    # Widget and metric ids are random on every run.
    return re.sub(
        r"[0-9a-f]{32}|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", "ID", snapshot.get_html_str(False)
    )


def test_the_report_is_the_same_with_one_figure_per_column(monkeypatch):
    drawn = []
    figure = evidently_figures._figure
    monkeypatch.setattr(evidently_figures, "_figure", lambda c, r: drawn.append(c.data.name) or figure(c, r))
    plain = _report_html()
    with one_figure_per_column():
        once = _report_html()
    assert once == plain
    assert sorted(drawn) == sorted(COLUMNS)
    # Outside the block Evidently draws its own figures again.
    assert _report_html() == plain and len(drawn) == len(COLUMNS)
