-- Run once by the postgres image on an empty data volume (docker-entrypoint-initdb.d), as POSTGRES_USER.
-- One database per concern, so each can be backed up, moved or given its own role later.
CREATE DATABASE airflow;      -- Airflow metadata + Celery result backend
CREATE DATABASE source;       -- Airflow connection source_db: the applications table
CREATE DATABASE monitoring;   -- Airflow connection monitoring_db: prediction log, decisions, promotion ledger
CREATE DATABASE mlflow;       -- MLflow tracking + model registry backend
CREATE DATABASE mlflow_auth;  -- MLflow basic-auth users and permissions
