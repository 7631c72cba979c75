# flintcloud's own image: the pipeline with its locked dependencies, so that
#   docker build -t flintcloud . && docker run --rm flintcloud make repro
# reproduces the demo run. Results stay in the container unless you mount reports/:
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD/reports:/work/flintcloud/reports" flintcloud make repro
#
# Base: python:3.11-slim-bookworm pinned by digest (Debian 12: glibc 2.36, which libcbm's bundled
# core needs). This digest was taken from public Dockerfiles that pin the same tag and could not be
# re-checked from the machine this was written on (no registry access there). To refresh it:
#   docker buildx imagetools inspect python:3.11-slim-bookworm   (use the index digest it prints)
# This image runs one batch job (`make repro`) and exits: there is no long-running process to probe.
#checkov:skip=CKV_DOCKER_2:batch image (make repro runs and exits); the service image deploy/docker/Dockerfile has a HEALTHCHECK
FROM python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b

ENV DVC_NO_ANALYTICS=1 \
    ITERATIVE_DO_NOT_TRACK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# make runs the same recipe as on a workstation; git because DVC tracks the pipeline through it.
# Package versions come from the Debian snapshot the pinned base was built from.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends make git \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /work/flintcloud

# The locked environment first (its layer is reused until pyproject.toml or requirements.lock
# change): exactly `make install`, i.e. pip install -c requirements.lock -e '.[test]' into .venv.
COPY Makefile pyproject.toml requirements.lock README.md ./
COPY flintcloud/ flintcloud/
RUN make install

# The rest of the repository: dvc.yaml, params.yaml, stages/, data/, .dvc/, .git (DVC needs it).
COPY . .

# Any user may run it (docker run --user ...): outputs, .dvc/tmp and the local DVC remote beside
# the checkout must be writable, and git must accept a checkout owned by someone else.
# (The stamp is touched so that make does not reinstall because COPY refreshed pyproject.toml.)
RUN touch .venv/.installed \
    && chmod -R a+rwX /work \
    && git config --system --add safe.directory /work/flintcloud \
    && useradd --uid 10001 --create-home --shell /usr/sbin/nologin flintcloud

# Not root by default; `docker run --user "$(id -u):$(id -g)"` still works (everything above is a+rwX).
USER 10001

ENV PATH=/work/flintcloud/.venv/bin:$PATH
CMD ["make", "repro"]
