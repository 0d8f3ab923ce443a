# syntax=docker/dockerfile:1
# OpenSales server. CPU build by default:
#   docker build -t opensales .
# NVIDIA GPU build (llama.cpp with CUDA; run with --gpus all and OPENSALES_LLM_GPU_LAYERS=-1):
#   docker build -t opensales:cuda \
#     --build-arg BASE_IMAGE=nvidia/cuda:12.6.3-devel-ubuntu24.04 \
#     --build-arg RUNTIME_IMAGE=nvidia/cuda:12.6.3-runtime-ubuntu24.04 \
#     --build-arg LLAMA_CMAKE_ARGS="-DGGML_CUDA=on -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF" \
#     --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126 .
# Build and runtime images must share a distribution: the virtualenv links to its python3.
ARG BASE_IMAGE=debian:bookworm-slim
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
# GGML_NATIVE=OFF: a portable binary, not one tuned to the CPU that happened to build it.
ARG LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF"
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       build-essential cmake git python3 python3-dev python3-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    LIBRARY_PATH=/usr/local/cuda/lib64/stubs \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The slow step on its own layer, so code changes do not recompile llama.cpp or refetch torch
# (its CPU build: PyPI's default one carries several GB of CUDA libraries).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN CMAKE_ARGS="${LLAMA_CMAKE_ARGS}" pip install --no-cache-dir llama-cpp-python==0.3.36 \
    && pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" torch==2.13.0
WORKDIR /src
COPY . .
# The project pins its dependencies exactly in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir .

FROM ${RUNTIME_IMAGE} AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 libgomp1 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 opensales \
    && mkdir /data && chown opensales /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    OPENSALES_DATA_DIR=/data \
    OPENSALES_HOST=0.0.0.0 \
    PYTHONUNBUFFERED=1
VOLUME /data
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
CMD ["sh", "-c", "opensales migrate && opensales serve"]
