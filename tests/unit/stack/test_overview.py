"""The `make run` summary: a curl line with a typical application, and Data Docs as the offline index."""

from __future__ import annotations

import json
import shlex

from tabular_mlops.stack import overview
from tabular_mlops.stack.layout import Layout


def test_the_summary_points_to_the_offline_index_and_curls_a_typical_application(
    tmp_path, repo_params, monkeypatch, capsys
) -> None:
    # Narrow: no stack runs here, so the champion and the service's health are not asked for.
    monkeypatch.setattr(overview, "champion", lambda layout: None)
    monkeypatch.setattr(overview, "describe_health", lambda program, layout: "not running")
    layout = Layout(repo=tmp_path, bin_dir=tmp_path)
    overview.print_summary(layout, repo_params, "initial")
    lines = capsys.readouterr().out.splitlines()
    gx = next(line for line in lines if line.strip().startswith("GX"))
    index = tmp_path / repo_params.paths.expectations_dir / "gx/uncommitted/data_docs/offline/index.html"
    assert gx.endswith(str(index)) and "local_site" not in gx
    curl = next(line for line in lines if "curl -s" in line)
    body = json.loads(shlex.split(curl)[-1])
    assert body["income"] == 44_000 and body["debt_to_income"] == 0.32
