"""The set-up script's choices (through its --dry-run) and its failures, and the
checks tools/al_train.py makes before training: mmcv ops for the device, and
pretrained weights that cannot be downloaded."""
import importlib.util
import os
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

from mmal.testing.al_runs import REPO
from mmal.utils import preflight
from mmal.utils.preflight import (cached_path, check_checkpoint_downloads,
                                  check_mmcv_ops_device, checkpoint_settings)

SCRIPT = osp.join(REPO, 'tools', 'install_env.sh')
VENV = osp.dirname(osp.dirname(sys.executable))


def install_env(*args, cwd=REPO, **env):
    return subprocess.run(['bash', SCRIPT, *args], capture_output=True, text=True,
                          cwd=cwd, env=dict(os.environ, **env), timeout=300)


@pytest.fixture
def fake_gpu(tmp_path):
    """A PATH on which nvidia-smi reports one compute-capability-9.0 GPU."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    smi = bin_dir / 'nvidia-smi'
    smi.write_text('#!/bin/sh\necho 9.0\n')
    smi.chmod(0o755)
    return f'{bin_dir}{os.pathsep}{os.environ["PATH"]}'


def has_cuda_toolkit() -> bool:
    return osp.isfile('/usr/local/cuda/bin/nvcc') or bool(
        subprocess.run(['which', 'nvcc'], capture_output=True).stdout)


def test_dry_run_builds_cpu_ops_without_a_gpu(tmp_path):
    result = install_env('--dry-run', VENV, MMAL_CACHE=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert 'MMCV_WITH_OPS=1 FORCE_CUDA=0' in result.stdout
    assert f'wheel cache: {tmp_path}/mmcv-2.1.0-torch' in result.stdout
    assert '-cpu\n' in result.stdout


@pytest.mark.skipif(not has_cuda_toolkit(), reason='needs a CUDA toolkit (nvcc)')
def test_dry_run_builds_cuda_ops_with_a_toolkit_and_a_gpu(tmp_path, fake_gpu):
    result = install_env('--dry-run', VENV, MMAL_CACHE=str(tmp_path), PATH=fake_gpu)
    assert result.returncode == 0, result.stderr
    assert 'FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=9.0' in result.stdout
    assert '-cuda' in result.stdout and '-sm9_0' in result.stdout
    forced = install_env('--dry-run', VENV, MMAL_CACHE=str(tmp_path),
                         PATH=fake_gpu, MMAL_MMCV_OPS='cpu')
    assert 'FORCE_CUDA=0' in forced.stdout and '-cpu\n' in forced.stdout


def test_forcing_cuda_without_a_toolkit_names_the_fix(tmp_path):
    result = install_env('--dry-run', VENV, MMAL_CACHE=str(tmp_path),
                         MMAL_MMCV_OPS='cuda', CUDA_HOME=str(tmp_path),
                         PATH='/usr/bin:/bin')
    assert result.returncode != 0
    assert 'no CUDA toolkit was found' in result.stderr
    assert 'FAILED at step: choose the mmcv build' in result.stderr


def requirement_lines(name):
    from packaging.requirements import Requirement
    with open(osp.join(REPO, 'requirements', name)) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [Requirement(line) for line in lines if line]


def test_build_tools_leave_torch_nothing_to_complain_about():
    """What goes into the venv after torch allows a version torch accepts, so
    pip prints no dependency-conflict ERROR on a cold set-up; mmcv's old
    setuptools goes to a folder on the build's PYTHONPATH only."""
    from importlib.metadata import requires

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    torch_needs = {}
    for line in requires('torch') or []:
        need = Requirement(line)
        if need.marker is None or need.marker.evaluate({'extra': ''}):
            torch_needs[canonicalize_name(need.name)] = need.specifier
    for ours in requirement_lines('build.txt'):
        theirs = torch_needs.get(canonicalize_name(ours.name))
        if theirs is None or not ours.specifier or not theirs:
            continue
        # A version named by either side that both accept.
        candidates = [spec.version for spec in [*ours.specifier, *theirs]]
        assert any(ours.specifier.contains(v) and theirs.contains(v)
                   for v in candidates), (str(ours), str(theirs))
    assert [str(r) for r in requirement_lines('mmcv_setuptools.txt')] == [
        'setuptools<70']


def test_dry_run_puts_the_old_setuptools_on_the_build_path_only(tmp_path):
    result = install_env('--dry-run', VENV, MMAL_CACHE=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert f'PYTHONPATH={VENV}/mmcv-build-setuptools ' in result.stdout


def test_any_working_directory_and_a_venv_path_with_spaces(tmp_path):
    # A relative VENV with a space, from a directory that is not the repository.
    (tmp_path / 'my envs').mkdir()
    result = install_env('--dry-run', 'my envs/mmal venv', cwd=str(tmp_path),
                         MMAL_CACHE='cache dir')
    assert result.returncode == 0, result.stderr
    assert f'venv: {tmp_path}/my envs/mmal venv\n' in result.stdout
    assert f'wheel cache: {tmp_path}/cache dir/mmcv-2.1.0-' in result.stdout


def test_a_failed_set_up_says_which_step_and_leaves_no_stamp(tmp_path):
    venv = tmp_path / 'venv'
    venv.mkdir()
    (venv / '.mmal-installed').write_text('')  # from an earlier set-up
    result = install_env(str(venv), MMAL_PYTHON=str(tmp_path / 'no-python'),
                         MMAL_CACHE=str(tmp_path / 'cache'))
    assert result.returncode != 0
    assert f'FAILED at step: virtual environment in {venv}' in result.stderr
    assert 'run the same command again' in result.stderr
    assert not (venv / '.mmal-installed').exists()


FAKE_PYTHON = """#!/bin/bash
# Logs each call; the first torch install meets a corrupted download.
echo "PIP_NO_CACHE_DIR=${PIP_NO_CACHE_DIR:-} $*" >> "$(dirname "$0")/calls.log"
case "$*" in
  *requirements/torch.txt*)
    if [ ! -e "$(dirname "$0")/corrupted-once" ]; then
      touch "$(dirname "$0")/corrupted-once"
      echo "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE." >&2
      exit 1
    fi ;;
  *"environment ready"*) echo "mmal environment ready: fake" ;;
  "-c "*) exit 1 ;;
esac
"""


def test_a_corrupted_download_is_retried_without_pips_cache(tmp_path):
    venv, cache = tmp_path / 'venv', tmp_path / 'cache'
    (venv / 'bin').mkdir(parents=True)
    fake_python = venv / 'bin' / 'python'
    fake_python.write_text(FAKE_PYTHON)
    fake_python.chmod(0o755)
    # A cached mmcv wheel for the build this fake python reports (none).
    wheel_dir = cache / 'mmcv-2.1.0-torchnone-none-cpu'
    wheel_dir.mkdir(parents=True)
    (wheel_dir / 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl').write_text('')
    result = install_env(str(venv), MMAL_CACHE=str(cache))
    assert result.returncode == 0, result.stderr
    assert 'failed (attempt 1 of 3), retrying in 5 s' in result.stderr
    torch_calls = [line for line in (venv / 'bin' / 'calls.log').read_text()
                   .splitlines() if 'requirements/torch.txt' in line]
    assert [call.split()[0] for call in torch_calls] == [
        'PIP_NO_CACHE_DIR=', 'PIP_NO_CACHE_DIR=1']
    assert (venv / '.mmal-installed').exists()


def load_al_train():
    spec = importlib.util.spec_from_file_location(
        'al_train', osp.join(REPO, 'tools', 'al_train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cpu_only_mmcv_on_a_gpu_run_stops_with_the_fix(monkeypatch):
    from mmcv.ops import get_compiling_cuda_version
    assert get_compiling_cuda_version() == 'not available'  # this machine's build
    detection = Config(dict(default_scope='mmdet'))
    with pytest.raises(RuntimeError, match='MMAL_MMCV_OPS=cuda bash tools/'):
        check_mmcv_ops_device(detection, cuda_available=True)
    check_mmcv_ops_device(detection, cuda_available=False)
    # Classification needs no compiled mmcv ops.
    check_mmcv_ops_device(Config(dict(default_scope='mmpretrain')),
                          cuda_available=True)
    # al_train.py makes the check before building the runner.
    al_train_module = load_al_train()
    monkeypatch.setattr(preflight, 'runs_on_cuda', lambda: True)
    args = al_train_module.argparse.Namespace(
        config=osp.join(REPO, 'configs', 'ssd_vgg16_voc_random.py'), work_dir=None,
        cfg_options={'train_dataloader.dataset.dataset.datasets.0.data_root': REPO,
                     'train_dataloader.dataset.dataset.datasets.1.data_root': REPO,
                     'val_dataloader.dataset.data_root': REPO,
                     'test_dataloader.dataset.data_root': REPO},
        launcher='none', amp=False, resume=False)
    with pytest.raises(RuntimeError, match='has CPU ops only'):
        al_train_module.build_config(args)


def test_checkpoint_settings_are_found_with_their_keys():
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'ssd_vgg16_voc_lloss.py'))
    found = dict(checkpoint_settings(cfg))
    assert found['model.target.backbone.init_cfg.checkpoint'] == \
        'open-mmlab://vgg16_caffe'
    assert 'default_hooks.checkpoint' not in found


def test_unreachable_weights_stop_before_training(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    monkeypatch.setenv('MMAL_OFFLINE', '1')
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'ssd_vgg16_voc_lloss.py'))
    with pytest.raises(RuntimeError) as error:
        check_checkpoint_downloads(cfg)
    message = str(error.value)
    assert 'vgg16_caffe-292e1171.pth' in message
    assert ('--cfg-options model.target.backbone.init_cfg.checkpoint=/path/to/'
            'vgg16_caffe-292e1171.pth') in message
    # Once the file is in mmengine's download cache, the run may go on.
    cached = cached_path('https://download.openmmlab.com/pretrain/third_party/'
                         'vgg16_caffe-292e1171.pth')
    os.makedirs(osp.dirname(cached))
    open(cached, 'wb').close()
    check_checkpoint_downloads(cfg)

