"""Active learning runs in-process, small enough for loop tests: mmpretrain's
ResNet-CIFAR (narrowed to 8 stem channels) on a slice of scikit-learn's real 8x8
digits, built and trained by mmengine's own Runner."""
import copy
from typing import Optional

from mmengine.config import Config
from mmengine.runner import Runner

import mmal.datasets.digits  # noqa: F401  (registers DigitsDataset)


def tiny_model(lloss: bool = False) -> dict:
    classifier = dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet_CIFAR', depth=18, stem_channels=8,
                      base_channels=8, num_stages=4, out_indices=(3, ),
                      style='pytorch'),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=64,
                  loss=dict(type='CrossEntropyLoss', loss_weight=1.0)),
        data_preprocessor=dict(type='ClsDataPreprocessor', mean=[77.85] * 3,
                               std=[95.85] * 3))
    if not lloss:
        return classifier
    return dict(type='LearningLossModel', target=classifier,
                taps=['backbone.layer1', 'backbone.layer2', 'backbone.layer3',
                      'backbone.layer4'],
                head=dict(in_channels=[8, 16, 32, 64], mid_channels=16))


def tiny_config(work_dir: str, lloss: bool = False, pool_size: int = 120,
                strategy: Optional[dict] = None, **train_cfg) -> Config:
    """A complete active learning config: 3 cycles of 20 + 10 + 10 labels, one
    epoch each, over the first ``pool_size`` training digits."""
    loader = dict(batch_size=8, num_workers=0, persistent_workers=False,
                  dataset=dict(type='DigitsDataset', split='train',
                               indices=pool_size,
                               pipeline=[dict(type='PackInputs')]))
    val_loader = dict(batch_size=64, num_workers=0, persistent_workers=False,
                      dataset=dict(type='DigitsDataset', split='test', indices=60,
                                   pipeline=[dict(type='PackInputs')]),
                      sampler=dict(type='DefaultSampler', shuffle=False))
    loop = dict(type='ActiveLearningLoop', cycles=3, initial_size=20,
                query_size=10, subset_size=30, max_epochs=1,
                strategy=strategy or dict(
                    type='LearningLossStrategy' if lloss else 'RandomStrategy'))
    loop.update(train_cfg)
    return Config(dict(
        default_scope='mmpretrain',
        custom_imports=dict(imports=['mmal', 'mmal.datasets.digits'],
                            allow_failed_imports=False),
        model=tiny_model(lloss),
        work_dir=work_dir,
        train_dataloader=loader,
        val_dataloader=val_loader,
        test_dataloader=copy.deepcopy(val_loader),
        val_evaluator=dict(type='Accuracy', topk=(1, )),
        test_evaluator=dict(type='Accuracy', topk=(1, )),
        train_cfg=loop,
        val_cfg=dict(),
        test_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', by_epoch=True, milestones=[1]),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=-1,
                                           save_last=False),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='LossPredictionDetachHook')] if lloss else [],
        randomness=dict(seed=3),
        log_level='WARNING'))


def run(cfg: Config) -> Runner:
    """Build a runner from ``cfg`` and train; returns the runner."""
    runner = Runner.from_cfg(copy.deepcopy(cfg))
    runner.train()
    return runner
