"""Answers to applications: the shared scoring function on the model serving now, the decision rule of batch
scoring, the fallback decision when the model fails, and the prediction-log rows of every answer.

Answers are plain dicts shaped like `schema.Prediction` (the routes' documented model): building and
re-validating a pydantic object per row costs more than the JSON itself on a batch.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from typing import Any

import numpy as np
import pandas as pd

from tabular_mlops.artifacts import ONLINE_SOURCE
from tabular_mlops.config import Params
from tabular_mlops.scoring import score_frame
from tabular_mlops.serving.holder import ModelHolder, Served
from tabular_mlops.serving.logwriter import PredictionLogWriter
from tabular_mlops.serving.metrics import ServingMetrics

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

    def score_groups(self, groups: list[Records]) -> list[list[Answer]]:
        """Several requests' applications in one model call (see batcher.py), answers split back per request.

        A model failure answers the fallback decision and the process goes on; when several requests were
        scored together, each is tried alone first, so only the one the model fails on gets the fallback.
        """
        served = self.holder.current
        records = [r for group in groups for r in group]
        started = time.perf_counter()
        try:
            # The served version's own threshold (chosen on its validation split unless the rule is fixed).
            threshold = served.loaded.threshold(self.rule)
            scores = self._scores(served, records)
        except Exception as exc:  # noqa: BLE001 - whatever the model raises, the applicant gets the safe decision
            if len(groups) > 1:
                return [self.score_groups([group])[0] for group in groups]
            return [self._fallback(served, records, exc)]
        self.metrics.stage.labels("model").observe(time.perf_counter() - started)
        self.metrics.predictions.labels(served.version).inc(len(records))
        answers = [self._answer(served, r, float(s), threshold) for r, s in zip(records, scores, strict=True)]
        logged = time.perf_counter()
        self.writer.submit(self._log_rows(served, records, answers))
        self.metrics.stage.labels("log").observe(time.perf_counter() - logged)
        out, i = [], 0
        for group in groups:
            out.append(answers[i : i + len(group)])
            i += len(group)
        return out

    def _scores(self, served: Served, records: Records) -> np.ndarray:
        frame = pd.DataFrame.from_records(records, columns=self.schema.feature_names)
        scores = score_frame(served.loaded.model, frame, self.schema)
        if (
            scores.shape != (len(records),)
            or not np.all(np.isfinite(scores))
            or np.any((scores < 0) | (scores > 1))
        ):
            raise ValueError(f"the model returned {scores.shape} scores that are not probabilities in [0, 1]")
        return scores

    def _application_id(self, record: dict[str, Any]) -> str:
        return str(record.get(self.schema.id_column) or uuid.uuid4().hex)

    def _answer(self, served: Served, record: dict[str, Any], score: float, threshold: float) -> Answer:
        high = score >= threshold  # the batch rule: decision 1 when the score reaches the threshold
        return {
            "prediction_id": f"{ONLINE_SOURCE}:{uuid.uuid4().hex}",
            "application_id": self._application_id(record),
            "score": score,
            "decision": self.serving.high_risk_decision if high else self.serving.low_risk_decision,
            "fallback": False,
            "model_name": self.model_name,
            "model_version": served.version,
        }

    def _fallback(self, served: Served, records: Records, exc: Exception) -> list[Answer]:
        self.metrics.fallbacks.labels(type(exc).__name__).inc(len(records))
        # The payload is not logged (credit data), only what failed.
        log.error("model v%s failed on %d application(s), answered %r: %s: %s", served.version, len(records),
                  self.serving.fallback_decision, type(exc).__name__, str(exc)[:300])  # fmt: skip
        return [
            {
                "prediction_id": f"{ONLINE_SOURCE}:{uuid.uuid4().hex}",
                "application_id": self._application_id(r),
                "score": None,
                "decision": self.serving.fallback_decision,
                "fallback": True,
                "model_name": self.model_name,
                "model_version": served.version,
            }
            for r in records
        ]

    def _log_rows(self, served: Served, records: Records, answers: list[Answer]) -> list[dict[str, Any]]:
        at = dt.datetime.now(dt.UTC).replace(
            tzinfo=None
        )  # the log's timestamps are naive UTC, as the batch rows
        rows = []
        for record, answer in zip(records, answers, strict=True):
            row = {f: record.get(f) for f in self.schema.feature_names}
            row.update(
                {
                    "prediction_id": answer["prediction_id"],
                    self.schema.id_column: answer["application_id"],
                    self.schema.timestamp_column: at,
                    "score": answer["score"],
                    "decision": int(answer["decision"] == self.serving.high_risk_decision),
                    "model_name": self.model_name,
                    "model_version": served.version,
                    "scoring_run_id": self.instance,
                    "source": ONLINE_SOURCE,
                }
            )
            rows.append(row)
        return rows
