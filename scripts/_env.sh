# Shared set-up for scripts/test and scripts/demo: a project venv with the pinned CPU torch.
# Idempotent: a second run only checks that the install is current.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
VENV=${HARNESS_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
# HARNESS_STACK: "main" (the demo: the harness and its [ml] extra) or "test" (the whole test stack).
STACK=${HARNESS_STACK:-test}
stamp="$VENV/.harness-installed-$STACK"
if [ "$STACK" = main ] && [ -f "$VENV/.harness-installed-test" ] && [ ! pyproject.toml -nt "$VENV/.harness-installed-test" ]; then
  stamp="$VENV/.harness-installed-test"  # the test stack holds the main job's
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  # torch is pinned to the CPU build (an unpinned torch pulls several GB of CUDA packages).
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "torch==2.13.0"
  if [ "$STACK" = main ]; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[ml]"
  else
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[ml,test]"
    # The MDS and LitData writers the format tests write with. Without --no-deps they pull
    # torchvision, whose PyPI build brings a CUDA torch; these are the modules they import.
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
      "mosaicml-streaming>=0.9" "litdata>=0.2.40" brotli python-snappy cramjam zstd catalogue boto3 botocore s3transfer jmespath
  fi
  touch "$stamp"
fi
case "$VENV" in
  /*) export PATH="$VENV/bin:$PATH" ;;  # an absolute HARNESS_VENV
  *) export PATH="$PWD/$VENV/bin:$PATH" ;;
esac
