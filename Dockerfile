# One image for every bench service in docker-compose.yml: the sweep driver (`bench run`),
# the MLflow server (same mlflow version as the clients) and the Dask scheduler/workers.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# libgomp1: the OpenMP runtime LightGBM and XGBoost wheels link against.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

# boto3: the MLflow server's S3 (MinIO) artifact store; not a dependency of bench itself.
COPY . /src
RUN pip install /src "boto3>=1.34,<2" && rm -rf /src

RUN useradd --create-home --uid 10001 bench \
    && mkdir -p /home/bench/work/runs \
    && chown -R bench:bench /home/bench/work
USER bench
WORKDIR /home/bench/work
# numba caches CatBoost's compiled focal kernel here (site-packages is not writable for bench).
ENV NUMBA_CACHE_DIR=/home/bench/.cache/numba

ENTRYPOINT ["python", "-m", "bench"]
CMD ["--help"]
