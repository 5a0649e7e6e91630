"""MLflow model registry: register the challenger, run the gate, move aliases, roll back. Fails closed."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from tabular_mlops.core.config import (
    GateConfig,
    Params,
    PathsConfig,
    RegistryConfig,
    SchemaConfig,
    ThresholdRule,
    WordingConfig,
)
from tabular_mlops.core.contracts import (
    CHALLENGER,
    CHAMPION,
    DVC_LOCK_FILE,
    GATE_HANDED_OVER,
    GATE_PENDING,
    GATE_PROMOTED,
    HOLDOUT_FILE,
    HOLDOUT_SCORES_FILE,
    LINEAGE_TAGS,
    PREVIOUS_CHAMPION,
    RUN_FILE,
    RolloutStage,
    RunStage,
    Tag,
    gate_rejection,
)
from tabular_mlops.model.challenger_alias import alias_version as _alias_of
from tabular_mlops.model.challenger_alias import give_back_challenger
from tabular_mlops.model.classification_metrics import classification_metrics
from tabular_mlops.model.model_tests import GateResult, model_tests
from tabular_mlops.model.scoring import LoadedModel, champion_version, load_version, version_record
from tabular_mlops.model.trusted_files import UntrustedModelError, load_verified, verified_copy
from tabular_mlops.store.promotion_ledger import promotion_lock
from tabular_mlops.training.gate import champion_comparison, threshold_checks, training_end
from tabular_mlops.training.holdout_scores import labels_and_times, score_part, stored_scores
from tabular_mlops.training.modelcard import render_model_card
from tabular_mlops.training.parts import head
from tabular_mlops.training.registry_records import (
    ChampionDescription,
    PromotionResult,
    RegisteredVersion,
    RollbackResult,
    defined_metrics,
)
from tabular_mlops.training.run_names import versioned_run_name

if TYPE_CHECKING:
    from mlflow import MlflowClient

# Fewer rows than this after the champion's training window: no fair comparison (AUC on a handful is noise).
MIN_COMPARISON_ROWS = 200


def _client() -> MlflowClient:
    from mlflow import MlflowClient

    return MlflowClient()


def alias_version(name: str, alias: str) -> str | None:
    return _alias_of(_client(), name, alias)


def register_challenger(
    registry: RegistryConfig, paths: PathsConfig, root: Path, description: str
) -> RegisteredVersion:
    """Register the run's model as a new version with alias `challenger` (once per run: idempotent).
    `description` is the registered model's, used when this creates it (`model_description`).

    If anything fails after the version exists, the version is deleted: no half-registered versions.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    info = json.loads((root / paths.model_dir / RUN_FILE).read_text())
    name, client = registry.model_name, _client()
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description=description)
    existing = client.search_model_versions(f"name='{name}' and run_id='{info['run_id']}'")
    run = client.get_run(info["run_id"])
    if existing:
        _name_by_version(client, run, str(existing[0].version))
        return RegisteredVersion(str(existing[0].version), info["run_id"], new=False)
    lineage = {k: v for k, v in run.data.tags.items() if k in LINEAGE_TAGS}
    if Tag.DECISION_THRESHOLD in info:
        lineage[Tag.DECISION_THRESHOLD] = f"{info[Tag.DECISION_THRESHOLD]:.6f}"
    # Only a model this pipeline can load safely becomes a version; its file's checksum goes with it, so every
    # later load can tell that the bytes are the ones registered.
    with verified_copy(info["model_uri"]) as verified:
        lineage[Tag.MODEL_SHA256] = verified.sha256
    mv = mlflow.register_model(info["model_uri"], name, tags=lineage)
    try:
        lock = root / DVC_LOCK_FILE
        if lock.exists():
            client.log_artifact(info["run_id"], str(lock), artifact_path="lineage")
        client.set_registered_model_alias(name, CHALLENGER, mv.version)
        client.set_model_version_tag(name, mv.version, Tag.GATE_DECISION, GATE_PENDING)
        _name_by_version(client, run, str(mv.version))
    except Exception:
        client.delete_model_version(name, mv.version)
        raise
    return RegisteredVersion(str(mv.version), info["run_id"], new=True)


def _name_by_version(client: MlflowClient, run: Any, version: str) -> None:
    """Put the version in the training run's name (`train v3 2026-03-17 drift`): known only now."""
    named = versioned_run_name(run.info.run_name or "train", version)
    if named != run.info.run_name:
        client.update_run(run.info.run_id, name=named)


def model_description(wording: WordingConfig, schema: SchemaConfig) -> str:
    """The registered model's description: what its score means, in the words of `params.yaml` `wording`."""
    text = wording.score_text(schema.target_column)
    return f"{text[:1].upper()}{text[1:]}."


def evaluate_gate(
    params: Params, root: Path, version: str
) -> tuple[list[GateResult], dict[str, float], str | None]:
    """Run the three gates for `version`; the champion is scored on the same holdout as the challenger.
    Returns the gates, the challenger's holdout metrics and the champion version it was compared with.

    The challenger is downloaded and verified once; its holdout scores are the ones `evaluate` stored for its
    run on this holdout (scored here, a row group at a time, only when there are none). Only the champion is
    scored, a row group at a time, on the rows it never trained on."""
    import mlflow

    name, schema = params.registry.model_name, params.schema
    path = root / params.paths.processed_dir / HOLDOUT_FILE
    record = version_record(name, version)
    # Model tests go through the pyfunc flavour on purpose: it enforces the logged signature, as a served
    # model would. It loads from a verified copy, never from the registry directly.
    uri = f"models:/{name}/{version}"
    with verified_copy(uri, record.tags[Tag.MODEL_SHA256]) as verified:
        challenger = replace(record, model=load_verified(verified, uri))
        pyfunc = mlflow.pyfunc.load_model(str(verified.folder))
    tests = model_tests(lambda x: pyfunc.predict(x)[:, 1], head(path, schema, 500), schema, params.gate)
    scores = stored_scores(
        root / params.paths.model_dir / HOLDOUT_SCORES_FILE,
        path,
        challenger.run_id,
        record.tags[Tag.MODEL_SHA256],
    )
    if scores is None:
        scores = score_part(challenger.model, path, schema)
    truth = labels_and_times(path, schema)
    y = truth[schema.target_column].astype(int).to_numpy()
    metrics = classification_metrics(y, scores, challenger.threshold(params.evaluate.decision_threshold))
    thresholds = threshold_checks(metrics, params.gate)
    champion = champion_version(name)
    comparison = champion_comparison(metrics, None, None, params.gate)
    if champion is not None and champion != version:
        comparison = compare_with_champion(
            schema,
            params.gate,
            params.evaluate.decision_threshold,
            challenger,
            load_version(name, champion),
            path,
            truth,
            scores,
        )
    return [tests, thresholds, comparison], metrics, champion


def refuse(
    name: str, version: str, reason: str, ledger_engine: sa.Engine, actor: str = "gate"
) -> PromotionResult:
    """A version that cannot be loaded safely: rejected with the reason, and it loses `challenger` so nothing
    picks it up later (the alias goes back to a version in rollout, if any). The champion is not touched.

    The alias moves inside the promotion lock: deploy_model rolls a version back under it, so the alias cannot
    go back to a version whose rollout ended after it was read."""
    client = _client()
    decision = gate_rejection(f"model refused: {reason}")
    client.set_model_version_tag(name, version, f"{Tag.GATE_PREFIX}model_tests", f"failed: {reason}"[:4900])
    with promotion_lock(ledger_engine, name):
        alias = give_back_challenger(client, name, version, decision, actor)
        client.set_model_version_tag(name, version, Tag.GATE_DECISION, decision[:4900])
    return PromotionResult(
        version,
        promoted=False,
        decision=decision,
        previous_champion=champion_version(name),
        refused=True,
        challenger_alias=alias,
    )


def compare_with_champion(
    schema: SchemaConfig,
    gate: GateConfig,
    rule: ThresholdRule,
    challenger: LoadedModel,
    champion: LoadedModel,
    holdout: Path,
    truth: pd.DataFrame,
    challenger_scores: np.ndarray,
) -> GateResult:
    """Both models on the holdout days the champion never trained on (after the end of its
    `reference_window`); the comparison is skipped, with that reason, when there are none or too few.
    `truth` holds the holdout's timestamps and labels, `challenger_scores` the challenger's scores on it."""
    ts, target = schema.timestamp_column, schema.target_column
    trained_until = training_end(champion.tags.get(Tag.REFERENCE_WINDOW))

    def unseen(rows: pd.DataFrame) -> np.ndarray:
        if trained_until is None:
            return np.ones(len(rows), dtype=bool)
        # The same rows as gate.unseen_rows (date > trained_until), without a Python date per row.
        return (rows[ts].dt.normalize() > pd.Timestamp(trained_until)).to_numpy()

    keep = unseen(truth)
    rows = truth[keep]
    if trained_until is None:
        where = f"the whole holdout (v{champion.version}'s training window is not recorded)"
    else:
        where = f"the {rows[ts].dt.normalize().nunique()} holdout day(s) after v{champion.version}'s training ended {trained_until}"
    if len(rows) < MIN_COMPARISON_ROWS or rows[target].nunique() < 2:
        return GateResult(
            "champion_comparison",
            True,
            f"skipped: only {len(rows)} holdout row(s) fall after v{champion.version}'s training window "
            f"(ends {trained_until}); a model is never judged on days it was trained on",
        )
    try:
        champion_threshold = champion.threshold(rule)
    except LookupError:  # a champion from before threshold rules: judged at the challenger's threshold
        champion_threshold = challenger.threshold(rule)
    y = rows[target].astype(int).to_numpy()
    champion_scores = score_part(champion.model, holdout, schema, keep=unseen)
    return champion_comparison(
        classification_metrics(y, challenger_scores[keep], challenger.threshold(rule)),
        classification_metrics(y, champion_scores, champion_threshold),
        champion.version,
        gate,
        rows=where,
    )


def promote_if_better(
    params: Params, root: Path, version: str, ledger_engine: sa.Engine, actor: str
) -> PromotionResult:
    """Record each gate's result on the version, write the model card, and move `champion` only if all pass.

    The alias moves inside the promotion lock, and only if the champion is still the one the gate compared
    against: when another promotion or a rollback moved it meanwhile, this version is not promoted and the
    decision says what happened (run the gate again to compare with the new champion).
    """
    import mlflow

    name, client = params.registry.model_name, _client()
    info = json.loads((root / params.paths.model_dir / RUN_FILE).read_text())
    if champion_version(name) == version:
        return PromotionResult(version, promoted=False, decision="already champion")
    try:
        gates, metrics, compared = evaluate_gate(params, root, version)
    except UntrustedModelError as exc:
        return refuse(name, version, str(exc), ledger_engine, actor)
    passed = all(g.passed for g in gates)
    for g in gates:
        client.set_model_version_tag(
            name,
            version,
            f"{Tag.GATE_PREFIX}{g.name}",
            f"{'passed' if g.passed else 'failed'}: {g.reason}"[:4900],
        )
    for k, v in metrics.items():
        client.set_model_version_tag(name, version, f"{Tag.HOLDOUT_PREFIX}{k}", f"{v:.6f}")
    with promotion_lock(ledger_engine, name) as ledger:
        current = champion_version(name)
        if not passed:
            decision = gate_rejection("; ".join(g.reason for g in gates if not g.passed))
        elif current != compared:
            decision = (
                f"not promoted: the champion moved from {_v(compared)} to {_v(current)} while the gate ran "
                "(another promotion or a rollback); run the gate again to compare with the new champion"
            )
        elif params.deploy.require_proof and current is not None:
            # Proof in production first: deploy_model takes the version through shadow and canary and moves
            # the alias itself only when every check passes. The first version has nothing to be proven
            # against (and the service nothing to serve without it): it is promoted.
            decision = GATE_HANDED_OVER
        else:
            decision = GATE_PROMOTED
        promoted = decision == GATE_PROMOTED
        alias = None
        if not promoted and decision != GATE_HANDED_OVER:
            # Not a challenger any more: a rollout this retraining interrupted gets its alias back (design point
            # 4). Before the decision tag: a version that says `rejected` never holds the alias.
            alias = give_back_challenger(client, name, version, decision, actor)
        if decision == GATE_HANDED_OVER:
            client.set_registered_model_alias(name, CHALLENGER, version)
            client.set_model_version_tag(name, version, Tag.ROLLOUT_STAGE, RolloutStage.SHADOW)
        if promoted:
            if current is not None:
                client.set_registered_model_alias(name, PREVIOUS_CHAMPION, current)
            client.set_registered_model_alias(name, CHAMPION, version)
            # The champion is no longer a challenger: the alias and the run's stage tag say so.
            if alias_version(name, CHALLENGER) == version:
                client.delete_registered_model_alias(name, CHALLENGER)
            client.set_tag(info["run_id"], Tag.STAGE, RunStage.PROMOTED)
            ledger.record("promote", current, version, actor, [f"{g.name}: {g.reason}" for g in gates])
        client.set_model_version_tag(name, version, Tag.GATE_DECISION, decision[:4900])
    lineage = client.get_model_version(name, version).tags
    card = render_model_card(params, version, info, metrics, lineage, gates, promoted)
    with mlflow.start_run(run_id=info["run_id"]):
        mlflow.log_text(card, "model_card.md")
        mlflow.log_dict({"gates": [g.as_dict() for g in gates], "promoted": promoted}, "gate/result.json")
    client.update_model_version(name, version, description=card)
    return PromotionResult(
        version,
        promoted=promoted,
        decision=decision,
        previous_champion=current,
        compared_with=compared,
        gates=tuple(gates),
        metrics=defined_metrics(metrics),
        challenger_alias=alias,
    )


def _v(version: str | None) -> str:
    return f"v{version}" if version else "none"


def rollback(
    name: str, ledger_engine: sa.Engine, actor: str, reason: str = "manual rollback"
) -> RollbackResult:
    """Swap `champion` and `previous_champion` (a second rollback undoes the first), inside the promotion lock."""
    client = _client()
    with promotion_lock(ledger_engine, name) as ledger:
        current, previous = alias_version(name, CHAMPION), alias_version(name, PREVIOUS_CHAMPION)
        if previous is None:
            raise LookupError(
                f"registered model '{name}' has no '{PREVIOUS_CHAMPION}' alias: nothing to roll back to"
            )
        client.set_registered_model_alias(name, CHAMPION, previous)
        if current is not None:
            client.set_registered_model_alias(name, PREVIOUS_CHAMPION, current)
            client.set_model_version_tag(name, current, Tag.ROLLED_BACK, reason)
        ledger.record("rollback", current, previous, actor, [reason])
    return RollbackResult(champion=previous, previous_champion=current, reason=reason)


def describe_champion(name: str) -> ChampionDescription:
    """The registered model's aliases, and the champion's training run and tags."""
    client = _client()
    version = alias_version(name, CHAMPION)
    if version is None:
        return ChampionDescription(name, None)
    mv = client.get_model_version(name, version)
    return ChampionDescription(
        model=name,
        champion=version,
        previous_champion=alias_version(name, PREVIOUS_CHAMPION),
        challenger=alias_version(name, CHALLENGER),
        run_id=mv.run_id,
        tags=dict(sorted(mv.tags.items())),
    )
