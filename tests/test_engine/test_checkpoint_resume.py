"""A checkpoint saved by an mmengine Runner is resumed by another Runner on this
torch once trusted; untrusted, it loads with weights_only=True, which refuses
it with the fix."""
import os.path as osp

import pytest
import torch
from mmengine.runner import Runner

from mmal.engine import trusting
from mmal.testing.cifar_format import write_cifar10
from mmal.utils import InputError
from mmal.testing.toolbox_models import resnet18_cifar_cfg


def runner_cfg(data_root, work_dir, max_epochs, resume=False):
    dataset = dict(type='UncheckedCIFAR10', data_root=data_root,
                   pipeline=[dict(type='PackInputs')])
    loader = dict(batch_size=8, num_workers=0, dataset=dataset,
                  sampler=dict(type='DefaultSampler', shuffle=True))
    return dict(
        model=resnet18_cifar_cfg(),
        work_dir=work_dir,
        train_dataloader=loader,
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', by_epoch=True, milestones=[1],
                             begin=0, end=10),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        default_scope='mmpretrain',
        custom_imports=dict(imports=['mmal.testing.cifar_format']),
        randomness=dict(seed=0),
        resume=resume)


def test_runner_resumes_its_own_checkpoint(tmp_path):
    data_root = write_cifar10(str(tmp_path / 'cifar'), num_train=16, num_test=8)
    work_dir = str(tmp_path / 'work')
    first = Runner.from_cfg(runner_cfg(data_root, work_dir, max_epochs=1))
    first.train()
    checkpoint = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(checkpoint)
    # torch's own default still refuses it: mmal did not loosen torch.load.
    with pytest.raises(Exception, match='weights_only'):
        torch.load(checkpoint)

    refused = Runner.from_cfg(runner_cfg(data_root, work_dir, max_epochs=2,
                                         resume=True))
    with pytest.raises(InputError, match='pass --trust-checkpoint'):
        refused.train()

    second = Runner.from_cfg(runner_cfg(data_root, work_dir, max_epochs=2,
                                        resume=True))
    with trusting(checkpoint):
        second.train()
    assert second.train_loop.epoch == 2
    assert second.iter == 2 * first.iter
    # The scheduler state came back too: lr decayed at epoch 1 as scheduled.
    assert second.optim_wrapper.get_lr()['lr'][0] == pytest.approx(0.001)
