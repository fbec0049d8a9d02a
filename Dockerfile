# The conformance suite as an image: `pytest --profile=${PROFILE:-prod} --reports=/reports`, in-cluster,
# as a non-root user, on a read-only root filesystem (writes go to /reports and /tmp only).
#
#   docker build -t cluster-conformance:0.1.0 .
#   docker run --rm -v "$PWD/reports:/reports" cluster-conformance:0.1.0 --snapshot=snapshots/254carbon   # the demo
#
# Extra arguments are passed to pytest (--gate=critical, -k pods, ...). tests/test_image.py installs exactly
# what this file installs and runs the demo from exactly what it copies.

# An exact tag; pin its digest too where your registry policy asks for it (FROM python:3.11.14-slim-bookworm@sha256:...).
FROM python:3.11.14-slim-bookworm

LABEL org.opencontainers.image.title="cluster-conformance" \
      org.opencontainers.image.description="pytest as the gate that says whether a Kubernetes platform is in the state its operators promised" \
      org.opencontainers.image.licenses="Apache-2.0"

# No bytecode written at run time (the root filesystem is read-only; the build compiles it), output unbuffered
# so `kubectl logs` follows the run, HOME on the writable /tmp.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp

RUN groupadd --system --gid 10001 conformance \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin conformance

# Dependencies first, in their own layer (a change to the checks does not reinstall them): exactly the pinned
# set, nothing resolved beyond it (--no-deps), and `pip check` proves the set complete.
COPY deploy/requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --no-deps -r /tmp/requirements.txt && pip check && rm /tmp/requirements.txt

WORKDIR /suite
COPY pyproject.toml README.md conftest.py ./
COPY conformance/ conformance/
COPY fixtures/ fixtures/
COPY profiles/ profiles/
COPY snapshots/254carbon/ snapshots/254carbon/
# The project itself (no dependencies: all pinned above), for `python -m conformance` and the `conformance` command;
# runs start from /suite; the plugin comes from its entry point (pytest11), with its checks and fixtures.
RUN pip install --no-cache-dir --no-deps . \
 && rm -rf build ./*.egg-info \
 && python -m compileall -q conformance fixtures conftest.py

USER 10001:10001
VOLUME ["/reports"]

# In a pod, no kubeconfig is found and the service account's token is used (README: Running).
ENTRYPOINT ["/bin/sh", "-c", "exec pytest --profile=\"${PROFILE:-prod}\" --reports=/reports \"$@\"", "conformance"]
CMD []
