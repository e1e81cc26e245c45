#!/usr/bin/env bash
# Creates (or updates) the virtual environment with mmal's pinned OpenMMLab stack.
# Idempotent: an existing venv and a cached mmcv wheel make a re-run take seconds.
#   bash tools/install_env.sh [VENV_DIR]
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$repo_root/.venv}"
python_bin="${MMAL_PYTHON:-python3.11}"
cache_dir="${MMAL_CACHE:-$HOME/.cache/mmal}"
# Absolute paths: the mmcv build below runs from another directory.
mkdir -p "$venv" "$cache_dir"
venv="$(cd "$venv" && pwd)"
cache_dir="$(cd "$cache_dir" && pwd)"
cd "$repo_root"

if [ ! -x "$venv/bin/python" ]; then
  "$python_bin" -m venv "$venv"
fi
py="$venv/bin/python"
pip_install() { "$py" -m pip install --disable-pip-version-check -q "$@"; }

pip_install -r requirements/torch.txt
# After torch: torch pulls a setuptools too new for mmcv's setup.py.
pip_install -r requirements/build.txt

# mmcv's compiled ops are ABI-bound to torch and Python: key the cached wheel on both.
torch_version="$("$py" -c 'import torch; print(torch.__version__.split("+")[0])')"
py_tag="$("$py" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
wheel_dir="$cache_dir/mmcv-2.1.0-torch$torch_version-$py_tag"
if ! ls "$wheel_dir"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
  build_dir="$(mktemp -d)"
  trap 'rm -rf "$build_dir"' EXIT
  "$py" -m pip download -q --no-deps --no-binary :all: --no-build-isolation \
    -d "$build_dir" mmcv==2.1.0
  tar -xzf "$build_dir"/mmcv-2.1.0.tar.gz -C "$build_dir"
  # torch >= 2.10 headers need C++20; mmcv 2.1.0 pins C++17.
  sed -i 's/-std=c++17/-std=c++20/g' "$build_dir"/mmcv-2.1.0/setup.py
  mkdir -p "$wheel_dir.partial"
  echo "Building mmcv 2.1.0 with CPU ops for torch $torch_version (several minutes, once)..."
  # -g0: Python's own CFLAGS ask for debug info, which nearly doubles compile time.
  (cd "$build_dir"/mmcv-2.1.0 && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="$(nproc)" \
    CFLAGS="${CFLAGS:-} -g0" \
    "$py" -m pip wheel -q --no-build-isolation --no-deps -w "$wheel_dir.partial" .)
  rm -rf "$wheel_dir" && mv "$wheel_dir.partial" "$wheel_dir"
  rm -rf "$build_dir"
fi
if ! "$py" -c 'import mmcv, sys; sys.exit(mmcv.__version__ != "2.1.0")' 2>/dev/null; then
  pip_install --no-deps "$wheel_dir"/mmcv-2.1.0-*.whl
fi

pip_install -r requirements/runtime.txt -r requirements/det.txt -r requirements/pose.txt \
  -r requirements/tests.txt
pip_install --no-deps -r requirements/pose_nodeps.txt
pip_install --no-deps -e .
"$py" -c 'import mmcv.ops, mmdet, mmpose, mmpretrain, mmal; print("mmal environment ready:", mmal.__version__)'
