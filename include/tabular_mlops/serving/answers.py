"""Answers to scoring requests: the shared scoring function on the model serving now, the decision rule of batch
scoring, the fallback decision when the model fails, and the prediction-log rows of every answer.

Answers are plain dicts shaped like `schema.Prediction` (the routes' documented model): building and
re-validating a pydantic object per row costs more than the JSON itself on a batch.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from tabular_mlops.core.config import Params
from tabular_mlops.core.contracts import ONLINE_SOURCE, SHADOW_SOURCE
from tabular_mlops.model.decision_rule import HIGH_RISK, decision_codes
from tabular_mlops.model.scoring import score_frame
from tabular_mlops.serving.holder import ModelHolder, Served
from tabular_mlops.serving.logwriter import PredictionLogWriter
from tabular_mlops.serving.prometheus_metrics import ServingMetrics
from tabular_mlops.store.prediction_log import (
    FALLBACK_COLUMN,
    LATENCY_COLUMN,
    AnsweredBy,
    log_columns,
    log_records,
)

log = logging.getLogger(__name__)

Records = list[dict[str, Any]]
Answer = dict[str, Any]  # the fields of schema.Prediction


class Answerer:
    def __init__(
        self,
        params: Params,
        holder: ModelHolder,
        writer: PredictionLogWriter,
        metrics: ServingMetrics,
        instance: str,
    ) -> None:
        self.schema, self.serving = params.schema, params.serving
        self.model_name = params.registry.model_name
        self.rule = params.evaluate.decision_threshold
        self.holder, self.writer, self.metrics, self.instance = holder, writer, metrics, instance

    def score_groups(
        self, groups: list[Records], received: list[float] | None = None, served: Served | None = None
    ) -> list[list[Answer]]:
        """Several requests' rows in one model call (see batcher.py), answers split back per request.

        `received[i]` is when request i arrived (`time.perf_counter()`), for the latency its log rows carry. A
        model failure answers the fallback decision and the process goes on; when several requests were scored
        together, each is tried alone first, so only the one the model fails on gets the fallback. Every answer,
        fallback or not, goes to the prediction log. `served`: the model that answers (default: the champion).
        """
        arrived = received if received is not None else [time.perf_counter()] * len(groups)
        served = served if served is not None else self.holder.current
        records = [r for group in groups for r in group]
        started = time.perf_counter()
        try:
            # The served version's own threshold (chosen on its validation split unless the rule is fixed).
            threshold = served.loaded.threshold(self.rule)
            scores = self._scores(served, records)
        except Exception as exc:  # noqa: BLE001 - whatever the model raises, the applicant gets the safe decision
            if len(groups) > 1:
                return [self.score_groups([g], [t], served)[0] for g, t in zip(groups, arrived, strict=True)]
            fallback = self._fallback(served, records, exc)
            self._log(served, records, fallback, [arrived[0]] * len(records))
            return [fallback]
        self.metrics.stage.labels("model").observe(time.perf_counter() - started)
        self.metrics.predictions.labels(served.version).inc(len(records))
        codes = decision_codes(scores, threshold)
        answers = [
            self._answer(served, r, float(s), int(c)) for r, s, c in zip(records, scores, codes, strict=True)
        ]
        self._log(served, records, answers, [t for g, t in zip(groups, arrived, strict=True) for _ in g])
        out, i = [], 0
        for group in groups:
            out.append(answers[i : i + len(group)])
            i += len(group)
        return out

    def shadow(
        self,
        served: Served,
        records: Records,
        primary: list[Answer],
        arrived: list[float],
        before_logging: Callable[[], None] = lambda: None,
    ) -> int:
        """Score `records` with the shadow model and log its answers (source shadow, the primary's entity
        id and prediction key); returns the rows logged. Raises whatever the model (or `before_logging`, the
        caller's deadline check) raises: the caller counts it."""
        threshold = served.loaded.threshold(self.rule)
        scores = self._scores(served, records)
        codes = decision_codes(scores, threshold)
        before_logging()
        answers = [
            self._answer(served, r, float(s), int(c))
            | {"prediction_id": _shadow_id(p), "entity_id": p["entity_id"]}
            for r, s, c, p in zip(records, scores, codes, primary, strict=True)
        ]
        rows = self._log_rows(served, records, answers, arrived, time.perf_counter(), SHADOW_SOURCE)
        return self.writer.submit(rows)

    def _log(self, served: Served, records: Records, answers: list[Answer], arrived: list[float]) -> None:
        logged = time.perf_counter()
        self.writer.submit(self._log_rows(served, records, answers, arrived, logged))
        self.metrics.stage.labels("log").observe(time.perf_counter() - logged)

    def _scores(self, served: Served, records: Records) -> np.ndarray:
        # Plain columns, not a DataFrame: building one costs more than the model on a single row.
        columns = {name: [r.get(name) for r in records] for name in self.schema.feature_names}
        scores = score_frame(served.predictor, columns, self.schema)
        if (
            scores.shape != (len(records),)
            or not np.all(np.isfinite(scores))
            or np.any((scores < 0) | (scores > 1))
        ):
            raise ValueError(f"the model returned {scores.shape} scores that are not probabilities in [0, 1]")
        return scores

    def _entity_id(self, record: dict[str, Any]) -> str:
        return str(record.get(self.schema.id_column) or uuid.uuid4().hex)

    def _answer(self, served: Served, record: dict[str, Any], score: float, code: int) -> Answer:
        high = code == HIGH_RISK  # the decision rule's code, as batch scoring logs it
        return {
            "prediction_id": f"{ONLINE_SOURCE}:{uuid.uuid4().hex}",
            "entity_id": self._entity_id(record),
            "score": score,
            "decision": self.serving.high_risk_decision if high else self.serving.low_risk_decision,
            "fallback": False,
            "model_name": self.model_name,
            "model_version": served.version,
        }

    def _fallback(self, served: Served, records: Records, exc: Exception) -> list[Answer]:
        self.metrics.fallbacks.labels(type(exc).__name__).inc(len(records))
        # The payload is not logged (it may be personal data), only what failed.
        log.error("model v%s failed on %d row(s), answered %r: %s: %s", served.version, len(records),
                  self.serving.fallback_decision, type(exc).__name__, str(exc)[:300])  # fmt: skip
        return [
            {
                "prediction_id": f"{ONLINE_SOURCE}:{uuid.uuid4().hex}",
                "entity_id": self._entity_id(r),
                "score": None,
                "decision": self.serving.fallback_decision,
                "fallback": True,
                "model_name": self.model_name,
                "model_version": served.version,
            }
            for r in records
        ]

    def _log_rows(
        self,
        served: Served,
        records: Records,
        answers: list[Answer],
        arrived: list[float],
        answered: float,
        source: str = ONLINE_SOURCE,
    ) -> list[dict[str, Any]]:
        """One row per answer; latency = request arrival to answer ready (validation, micro-batch wait, model)."""
        # The log's timestamps are naive UTC, as the batch rows.
        at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        by = AnsweredBy(self.model_name, served.version, self.instance, source)
        columns = log_columns(
            self.schema,
            by,
            [a["prediction_id"] for a in answers],
            [a["entity_id"] for a in answers],
            at,
            {f: [r.get(f) for r in records] for f in self.schema.feature_names},
            [a["score"] for a in answers],
            [int(a["decision"] == self.serving.high_risk_decision) for a in answers],
            **{
                LATENCY_COLUMN: [round((answered - t0) * 1000.0, 4) for t0 in arrived],
                FALLBACK_COLUMN: [a["fallback"] for a in answers],
            },
        )
        return log_records(columns, len(answers))


def _shadow_id(primary: Answer) -> str:
    """The shadow answer's log key: the primary's key with the shadow source, so the two pair by key too."""
    return f"{SHADOW_SOURCE}:{str(primary['prediction_id']).partition(':')[2]}"
