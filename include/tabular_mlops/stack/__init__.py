"""The local stack behind `make run` / `make stop` / `make status`.

supervisord runs the long-lived processes (MLflow server, `airflow standalone`, Evidently UI); this package renders
its config, drives it with `supervisorctl`, and bootstraps Airflow through its REST API (seed, pool, backfill, first
training). It never imports Airflow: the REST API and, where that cannot do it, the `airflow` CLI.

    python -m tabular_mlops.stack up|down|status
"""
