# syntax=docker/dockerfile:1
# The scaleserve image: the package, its example models and the models' code; never model
# weights (a registry version's artifact is fetched at start, packaged models bring their own).
#   docker build -t scaleserve .                         # CPU torch
#   docker build --build-arg TORCH=cu124 -t scaleserve . # CUDA 12.4 torch, for GPU workers
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
ARG TORCH=cpu
ARG TORCH_VERSION=2.13.0
ARG EXTRAS=examples,registry
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build
# torch first, from the index of the wanted build (CPU or CUDA), so that the project's
# own requirement is already met by it
RUN pip install --index-url "https://download.pytorch.org/whl/${TORCH}" "torch==${TORCH_VERSION}"
COPY pyproject.toml README.md ./
COPY src ./src
# the project itself, from this source; its dependencies are ranged in pyproject.toml
# hadolint ignore=DL3013
RUN pip install ".[${EXTRAS}]"

FROM python:${PYTHON_VERSION}-slim
RUN useradd --uid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin scaleserve \
    && mkdir -p /var/lib/scaleserve \
    && chown 10001:10001 /var/lib/scaleserve
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY examples ./examples
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    SCALESERVE_DATA_DIR=/var/lib/scaleserve
USER 10001
EXPOSE 8000
ENTRYPOINT ["scaleserve"]
CMD ["serve", "examples/echo", "--host", "0.0.0.0"]
