"""Derived configs and ``tools/al_train.py`` runs for end-to-end tests."""
import json
import os
import os.path as osp
import subprocess
import sys
import textwrap
from typing import Optional

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# The hourglass configs shrunk for CPU: 2 stacks of 32 channels, 64x64 inputs,
# 16x16 heatmaps; append it to a derived config and use its pipelines.
SMALL_HOURGLASS = """
codec = dict(type='MSRAHeatmap', input_size=(64, 64), heatmap_size=(16, 16),
             sigma=1)
small_target = dict(
    backbone=dict(num_stacks=2, channels=32, depth=2),
    head=dict(num_stages=2, decoder=codec))
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomBBoxTransform', shift_prob=0),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs')
]
"""


def write_config(path: str, base: str, body: str) -> str:
    """A config that inherits ``configs/<base>`` and overrides ``body``."""
    with open(path, 'w') as f:
        f.write(f"_base_ = '{osp.join(REPO, 'configs', base)}'\n")
        f.write(textwrap.dedent(body))
    return path


def run_tool(tool: str, *args: str, check: bool = True, timeout: int = 600,
             env: Optional[dict] = None) -> subprocess.CompletedProcess:
    """Run ``tools/<tool>`` as a user would, with this checkout's mmal importable."""
    env = dict(os.environ, **(env or {}), PYTHONPATH=os.pathsep.join(
        [REPO, os.environ.get('PYTHONPATH', '')]))
    result = subprocess.run([sys.executable, osp.join(REPO, 'tools', tool), *args],
                            capture_output=True, text=True, env=env, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f'{tool} failed ({result.returncode}):\n'
                             f'{result.stdout[-3000:]}\n{result.stderr[-5000:]}')
    return result


def al_train(config: str, work_dir: str, *args: str, check: bool = True,
             timeout: int = 600, env: Optional[dict] = None
             ) -> subprocess.CompletedProcess:
    """``tools/al_train.py CONFIG --work-dir WORK_DIR ARGS``."""
    return run_tool('al_train.py', config, '--work-dir', work_dir, *args,
                    check=check, timeout=timeout, env=env)


def read_state(work_dir: str) -> dict:
    with open(osp.join(work_dir, 'al_state.json')) as f:
        return json.load(f)
