#!/usr/bin/env bash
# Download the wheels a bare, offline GPU machine lacks, so scripts/gpu-check.sh can run there.
#
# Such a machine already has a CUDA build of torch, Python 3.12, numpy, pandas, psutil, scipy, rich,
# typer, pyyaml, pytest, hypothesis, nvidia-ml-py, onnx and the CPU onnxruntime (and their own
# dependencies: jinja2/MarkupSafe, ml_dtypes, protobuf, packaging, sympy, ...). This downloads the rest of
# what `capplan hw`, `capplan bench run` and `pytest -m gpu` import, pinned to the versions CI tests
# with, as manylinux wheels for each Python in $GPU_WHEELS_PYTHONS (default: 3.12, the GPU machine's,
# plus this machine's own so the plumbing can be tried here), into $GPU_WHEELS_DIR (default
# gpu-wheels/, git-ignored; well under the 64 MiB a device run carries). Nothing here installs anything.
#
#   scripts/gpu-wheels.sh && bash scripts/gpu-check.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST=${GPU_WHEELS_DIR:-$ROOT/gpu-wheels}
PY=${PYTHON:-python3}
HERE_PY=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
PYTHONS=${GPU_WHEELS_PYTHONS:-"3.12 $HERE_PY"}
LIMIT_MIB=64

# name==version, one per line: the carried packages (no dependency resolution happens on the machine).
REQUIREMENTS="
pydantic==2.14.4
pydantic-core==2.50.5
typing-inspection==0.4.5
annotated-types==0.8.0
typing-extensions==4.16.0
SQLAlchemy==2.1.9
alembic==1.20.1
Mako==1.4.3
MarkupSafe==3.0.4
platformdirs==4.14.8
simpy==4.1.2
mlcommons-loadgen==6.0.17
threadpoolctl==3.8.0
onnxscript==0.7.2
onnx-ir==1.1.0
pytest-timeout==2.4.0
pycountry==26.2.16
"

mkdir -p "$DEST"
printf '%s\n' $REQUIREMENTS > "$DEST/requirements.txt"
for version in $(printf '%s\n' $PYTHONS | sort -u); do
  echo "gpu-wheels: cp${version/./} manylinux wheels -> $DEST"
  "$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version "$version" --implementation cp --platform manylinux2014_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    --dest "$DEST" -r "$DEST/requirements.txt"
done
size_mib=$(du -sm "$DEST" | cut -f1)
echo "gpu-wheels: $(ls "$DEST"/*.whl | wc -l) wheels, ${size_mib} MiB in $DEST"
if [ "$size_mib" -ge "$LIMIT_MIB" ]; then
  echo "gpu-wheels: $DEST is ${size_mib} MiB, over the ${LIMIT_MIB} MiB a device run carries" >&2
  exit 1
fi
