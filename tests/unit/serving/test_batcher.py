"""Micro-batching on a real fitted pipeline: concurrent requests share model calls, each gets its own rows'
answers (equal to scoring them alone), and a request the model fails on does not take the others down."""

import asyncio

import pandas as pd
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from tabular_mlops.model.scoring import score_frame
from tabular_mlops.serving.batcher import MicroBatcher

from tests.support.scoring_service import example, make_service


def test_concurrent_requests_share_model_calls_and_get_their_own_answers(
    repo_params, tmp_path, fitted, applications
):
    service = make_service(repo_params, tmp_path, fitted)
    calls = []

    def counted(groups, received):
        calls.append(len(groups))
        return service.score_groups(groups, received)

    batcher = MicroBatcher(counted, max_rows=1000)
    bodies = [example(applications, repo_params.schema, i) for i in range(40)]

    async def many():
        return await asyncio.gather(*(batcher.score([b]) for b in bodies))

    answers = asyncio.run(many())
    alone = score_frame(fitted, applications.head(40), repo_params.schema)
    assert [a[0]["score"] for a in answers] == alone.tolist()
    assert [a[0]["entity_id"] for a in answers] == [b["application_id"] for b in bodies]
    assert sum(calls) == 40 and len(calls) < 40, calls  # requests waiting behind a call were scored together


def test_the_row_budget_splits_calls(repo_params, tmp_path, fitted, applications):
    service = make_service(repo_params, tmp_path, fitted)
    sizes = []

    def counted(groups, received):
        sizes.append(sum(len(g) for g in groups))
        return service.score_groups(groups, received)

    batcher = MicroBatcher(counted, max_rows=5)
    body = example(applications, repo_params.schema)

    async def many():
        return await asyncio.gather(*(batcher.score([body, body]) for _ in range(6)))

    asyncio.run(many())
    assert max(sizes) <= 5 and sum(sizes) == 12


def _refuses_age_99(frame: pd.DataFrame) -> pd.DataFrame:
    if (frame["age"] == 99).any():
        raise ValueError("cannot score age 99")
    return frame


def test_only_the_request_the_model_fails_on_gets_the_fallback(repo_params, tmp_path, fitted, applications):
    service = make_service(repo_params, tmp_path, make_pipeline(FunctionTransformer(_refuses_age_99), fitted))
    good = [example(applications, repo_params.schema, i) for i in range(3)]
    bad = {**good[0], "age": 99}
    answers = service.score_groups([[good[0]], [bad], good[1:]])
    assert [a["fallback"] for group in answers for a in group] == [False, True, False, False]
    assert answers[1][0]["decision"] == repo_params.serving.fallback_decision
