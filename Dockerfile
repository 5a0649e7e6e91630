# The one image of the scale-out path (docker-compose.yaml): Airflow's components, the Celery workers, the MLflow
# server, the scoring service and the Evidently UI all run this project's pinned requirements and package.
FROM python:3.11.11-slim-bookworm

# git: DVC works inside a git repository and lineage records the commit; tini reaps the task subprocesses.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git tini \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 50000 mlops
WORKDIR /opt/project
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OMP_NUM_THREADS=1 \
    DO_NOT_TRACK=1 \
    MLOPS_PROJECT_DIR=/opt/project

# The pinned requirements first (a layer that survives code changes), then the package itself.
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY pyproject.toml params.yaml dvc.yaml data.dvc .dvcignore ./
COPY .dvc/config .dvc/.gitignore .dvc/
COPY include/ include/
COPY dags/ dags/
COPY plugins/ plugins/
RUN pip install --no-deps -e . \
    && printf 'var/\nquarantine/\n__pycache__/\n' > .gitignore \
    && git init -q \
    && git -c user.name=image -c user.email=image@localhost add -A \
    && git -c user.name=image -c user.email=image@localhost commit -qm "image build" \
    && chown -R mlops:mlops /opt/project

USER mlops
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["tabular-mlops", "--help"]
