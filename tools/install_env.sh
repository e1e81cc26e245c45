#!/usr/bin/env bash
# Creates (or updates) the virtual environment with mmal's pinned OpenMMLab stack.
#   bash tools/install_env.sh [--dry-run] [VENV_DIR]
# Works from any directory, with a relative or absolute VENV_DIR (spaces too).
# Idempotent: a finished step is reused on a re-run (the venv, torch from pip's
# cache, the mmcv sdist and the mmcv wheel from $MMAL_CACHE), so a failed set-up
# is retried by running the same command again. The stamp VENV_DIR/.mmal-installed
# is written only when everything succeeded.
#
# mmcv 2.1.0 has no wheel for this torch; it is built from the sdist:
#   MMAL_MMCV_OPS=auto (default)  CUDA ops when a CUDA toolkit (nvcc), a CUDA torch
#                                 and a GPU (nvidia-smi) are present, else CPU ops
#                                 (a toolkit without a GPU builds CPU ops: CUDA
#                                 kernels would cost an hour on a small CPU for
#                                 nothing it can run)
#   MMAL_MMCV_OPS=cpu | cuda      force either (cuda: e.g. an image built on a
#                                 GPU-less host)
#   TORCH_CUDA_ARCH_LIST          CUDA architectures (default: the visible GPUs',
#                                 else "7.0;8.0;8.6;9.0")
#   MMAL_CACHE                    wheel cache (default ~/.cache/mmal)
set -Eeuo pipefail

dry_run=0
if [ "${1:-}" = "--dry-run" ]; then
  dry_run=1
  shift
fi
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$repo_root/.venv}"
python_bin="${MMAL_PYTHON:-python3.11}"
cache_dir="${MMAL_CACHE:-$HOME/.cache/mmal}"
ops="${MMAL_MMCV_OPS:-auto}"

step="start"
on_error() {
  echo >&2
  echo "mmal set-up FAILED at step: $step" >&2
  echo "Fix the error above, then run the same command again (make env, or" >&2
  echo "bash tools/install_env.sh \"$venv\"); finished steps are reused." >&2
}
trap on_error ERR
run_step() { step="$1"; echo "==> $1"; }

# Absolute paths: the mmcv build below runs from another directory.
mkdir -p "$venv" "$cache_dir"
venv="$(cd "$venv" && pwd)"
cache_dir="$(cd "$cache_dir" && pwd)"
stamp="$venv/.mmal-installed"
cd "$repo_root"
[ "$dry_run" = 1 ] || rm -f "$stamp"

run_step "virtual environment in $venv"
if [ ! -x "$venv/bin/python" ] && [ "$dry_run" = 0 ]; then
  "$python_bin" -m venv "$venv"
fi
py="$venv/bin/python"
# A download that arrives corrupted fails pip's hash check (seen in CI: a PyPI
# wheel's sha256 differed once and matched on the next download), so downloads
# are retried, without pip's HTTP cache, which could hand back the same bytes.
with_retries() {
  local attempt
  "$@" && return 0
  for attempt in 2 3; do
    echo "failed (attempt $((attempt - 1)) of 3), retrying in 5 s without pip's cache: $*" >&2
    sleep 5
    PIP_NO_CACHE_DIR=1 "$@" && return 0
  done
  return 1
}
pip_install() { with_retries "$py" -m pip install --disable-pip-version-check -q "$@"; }

# mmcv's setup.py needs a setuptools older than torch allows: it lives here, on
# the build's PYTHONPATH only, so the venv never holds a conflict for pip to report.
mmcv_setuptools="$venv/mmcv-build-setuptools"
if [ "$dry_run" = 0 ]; then
  run_step "torch (requirements/torch.txt)"
  pip_install -r requirements/torch.txt
  run_step "build tools (requirements/build.txt)"
  pip_install -r requirements/build.txt
fi

run_step "choose the mmcv build"
torch_info="$("$py" -c 'import sys, torch
print(torch.__version__.split("+")[0], torch.version.cuda or "none",
      f"cp{sys.version_info[0]}{sys.version_info[1]}")' 2>/dev/null || echo "none none none")"
read -r torch_version torch_cuda py_tag <<<"$torch_info"
nvcc_bin=""
if [ -n "${CUDA_HOME:-}" ] && [ -x "$CUDA_HOME/bin/nvcc" ]; then
  nvcc_bin="$CUDA_HOME/bin/nvcc"
elif [ -z "${CUDA_HOME:-}" ] && [ -x /usr/local/cuda/bin/nvcc ]; then
  nvcc_bin=/usr/local/cuda/bin/nvcc
elif command -v nvcc >/dev/null 2>&1; then
  nvcc_bin="$(command -v nvcc)"
fi
gpu_caps="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null \
  | sort -u | paste -sd';' || true)"
case "$ops" in
  auto)
    if [ -n "$nvcc_bin" ] && [ "$torch_cuda" != none ] && [ -n "$gpu_caps" ]; then
      ops=cuda
    else
      ops=cpu
    fi ;;
  cpu) ;;
  cuda)
    if [ -z "$nvcc_bin" ]; then
      echo "MMAL_MMCV_OPS=cuda, but no CUDA toolkit was found (nvcc on PATH or" \
        "\$CUDA_HOME/bin/nvcc). Install the CUDA toolkit matching torch's CUDA" \
        "$torch_cuda, or set MMAL_MMCV_OPS=cpu." >&2
      false
    fi ;;
  *) echo "MMAL_MMCV_OPS must be auto, cpu or cuda, not '$ops'" >&2; false ;;
esac
if [ "$ops" = cuda ]; then
  TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-${gpu_caps:-7.0;8.0;8.6;9.0}}"
  export TORCH_CUDA_ARCH_LIST
  build_key="cuda$torch_cuda-sm${TORCH_CUDA_ARCH_LIST//[;. ]/_}"
  build_env=(MMCV_WITH_OPS=1 FORCE_CUDA=1 "TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST"
             "CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$nvcc_bin")")}")
else
  build_key="cpu"
  build_env=(MMCV_WITH_OPS=1 FORCE_CUDA=0)
fi
# mmcv's compiled ops are ABI-bound to torch and Python, and hold CPU or CUDA code.
wheel_dir="$cache_dir/mmcv-2.1.0-torch$torch_version-$py_tag-$build_key"
# -g0: Python's own CFLAGS ask for debug info, which nearly doubles compile time.
build_cmd=(env "${build_env[@]}" "MAX_JOBS=$(nproc)" "CFLAGS=${CFLAGS:-} -g0"
           "PYTHONPATH=$mmcv_setuptools"
           "$py" -m pip wheel -q --no-build-isolation --no-deps -w "$wheel_dir.partial" .)
if [ "$dry_run" = 1 ]; then
  echo "venv: $venv"
  echo "mmcv ops: $ops (torch $torch_version, torch CUDA $torch_cuda, nvcc ${nvcc_bin:-none}, GPUs ${gpu_caps:-none})"
  echo "wheel cache: $wheel_dir"
  if ls "$wheel_dir"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
    echo "mmcv wheel: cached, no build"
  fi
  echo "build command (in the mmcv-2.1.0 sdist, -std=c++17 -> -std=c++20): ${build_cmd[*]}"
  exit 0
fi

if ! ls "$wheel_dir"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
  if [ ! -d "$mmcv_setuptools/setuptools" ]; then
    run_step "setuptools for the mmcv build (requirements/mmcv_setuptools.txt)"
    rm -rf "$mmcv_setuptools.partial"
    # --no-deps (setuptools has none): else pip checks it against the venv's
    # torch, which it never meets there, and reports a conflict.
    pip_install --no-deps --target "$mmcv_setuptools.partial" \
      -r requirements/mmcv_setuptools.txt
    mv "$mmcv_setuptools.partial" "$mmcv_setuptools"
  fi
  run_step "download the mmcv 2.1.0 sdist"
  sdist_dir="$cache_dir/sdist"
  if [ ! -f "$sdist_dir/mmcv-2.1.0.tar.gz" ]; then
    # pip runs the sdist's setup.py for its metadata.
    PYTHONPATH="$mmcv_setuptools" with_retries "$py" -m pip download -q --no-deps \
      --no-binary :all: --no-build-isolation -d "$sdist_dir.partial" mmcv==2.1.0
    mkdir -p "$sdist_dir"
    mv "$sdist_dir.partial/mmcv-2.1.0.tar.gz" "$sdist_dir/"
    rm -rf "$sdist_dir.partial"
  fi
  run_step "build mmcv 2.1.0 with $ops ops for torch $torch_version (several minutes, once)"
  build_dir="$(mktemp -d)"
  trap 'rm -rf "$build_dir"' EXIT
  tar -xzf "$sdist_dir/mmcv-2.1.0.tar.gz" -C "$build_dir"
  # torch >= 2.10 headers need C++20; mmcv 2.1.0 pins C++17.
  sed -i 's/-std=c++17/-std=c++20/g' "$build_dir"/mmcv-2.1.0/setup.py
  rm -rf "$wheel_dir.partial" && mkdir -p "$wheel_dir.partial"
  (cd "$build_dir"/mmcv-2.1.0 && "${build_cmd[@]}")
  rm -rf "$wheel_dir" && mv "$wheel_dir.partial" "$wheel_dir"
fi
run_step "install the mmcv wheel"
# The venv remembers which build it has, so switching cpu <-> cuda reinstalls.
if [ "$(cat "$venv/.mmal-mmcv" 2>/dev/null)" != "$wheel_dir" ] || \
   ! "$py" -c 'import mmcv, sys; sys.exit(mmcv.__version__ != "2.1.0")' 2>/dev/null; then
  pip_install --no-deps --force-reinstall "$wheel_dir"/mmcv-2.1.0-*.whl
  echo "$wheel_dir" > "$venv/.mmal-mmcv"
fi

run_step "OpenMMLab toolboxes and test requirements"
pip_install -r requirements/runtime.txt -r requirements/det.txt -r requirements/pose.txt \
  -r requirements/tests.txt
pip_install --no-deps -r requirements/pose_nodeps.txt
pip_install --no-deps -e .
run_step "check the environment"
# pkg_resources: mmengine needs it for scoped configs ('mmdet::...').
"$py" -W ignore::UserWarning -c 'import pkg_resources, mmcv.ops, mmdet, mmpose, mmpretrain, mmal; print("mmal environment ready:", mmal.__version__)'
touch "$stamp"
