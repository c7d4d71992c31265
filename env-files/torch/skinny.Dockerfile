# itwinai with PyTorch for CPUs only, the smallest image (itwinai:X.Y.Z-skinny-torchx.y-noble).
# Built by `cargo xtask image build torch-skinny`, which passes every ARG below
# (FRAMEWORK_VERSION is the catalog's framework-version, the x.y in the tag).
ARG BASE_IMG_NAME=ubuntu:24.04

FROM ${BASE_IMG_NAME}

ARG FRAMEWORK_VERSION
ARG ITWINAI_VERSION

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       ca-certificates python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# One resolver call: fails rather than installing a framework other than the tag's.
# torch comes from PyTorch's CPU wheel index (no CUDA libraries, a fraction of the
# size; its +cpu builds sort above PyPI's), everything else from PyPI.
RUN test -n "${FRAMEWORK_VERSION}" && test -n "${ITWINAI_VERSION}" \
    && pip install --no-cache-dir \
       --index-url https://download.pytorch.org/whl/cpu \
       --extra-index-url https://pypi.org/simple \
       "torch==${FRAMEWORK_VERSION}.*" "itwinai==${ITWINAI_VERSION}"

# Provenance: declared last so that a new date or commit only rebuilds the labels.
ARG BASE_IMG_NAME
ARG BASE_IMG_DIGEST
ARG COMMIT_HASH
ARG CREATION_DATE
ARG IMAGE_FULL_NAME
LABEL org.opencontainers.image.title="itwinai" \
      org.opencontainers.image.description="itwinai with PyTorch for CPUs" \
      org.opencontainers.image.source="https://github.com/interTwin-eu/itwinai" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.created="${CREATION_DATE}" \
      org.opencontainers.image.version="${ITWINAI_VERSION}" \
      org.opencontainers.image.revision="${COMMIT_HASH}" \
      org.opencontainers.image.ref.name="${IMAGE_FULL_NAME}" \
      org.opencontainers.image.base.name="${BASE_IMG_NAME}" \
      org.opencontainers.image.base.digest="${BASE_IMG_DIGEST}"
