"""Errors of bad input: a retry reads the same input and fails the same way, so the orchestrator must not retry.

The package never imports Airflow; a task that calls it turns a `NotRetryableError` into Airflow's own
non-retryable failure (`tabular_mlops_airflow.settings.fail_fast`)."""

from __future__ import annotations


class NotRetryableError(Exception):
    """The input is wrong (a value, a column, a missing argument): retrying cannot fix it; the message says what."""
