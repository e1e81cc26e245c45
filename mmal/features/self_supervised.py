"""A self-supervised model trained on the pool itself: mmpretrain's SimCLR (its
registered ``SimCLR`` algorithm, ``NonLinearNeck``, ``ContrastiveHead`` and view
transforms) on the pool's images, before any label."""
import copy
import hashlib
import io
import json
import os.path as osp
import random
import time
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
from mmengine.dataset import default_collate
from mmengine.dist import get_dist_info
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DATASETS, MODELS

from mmal.registry import FEATURE_SOURCES
from mmal.utils import InputError, dump_json_atomic, write_atomic
from mmal.utils.dist import broadcast_from_rank0
from .base import BaseFeatureSource


def view_pipeline(size) -> list:
    """SimCLR's augmentations of one view, as the TypiClust authors' CIFAR recipe
    (SCAN's) has them for small images: random resized crop to the image's own
    ``size`` (w, h) with scale 0.2-1, flip, colour jitter (0.4, 0.4, 0.4, 0.1)
    with probability 0.8, grayscale with 0.2; no blur (on a few pixels it erases
    the image)."""
    return [
        dict(type='mmpretrain.RandomResizedCrop', scale=tuple(size),
             crop_ratio_range=(0.2, 1.0), backend='pillow'),
        dict(type='mmpretrain.RandomFlip', prob=0.5),
        dict(type='RandomApply', prob=0.8, transforms=[
            dict(type='mmpretrain.ColorJitter', brightness=0.4, contrast=0.4,
                 saturation=0.4, hue=0.1)]),
        dict(type='mmpretrain.RandomGrayscale', prob=0.2, keep_channels=True,
             channel_weights=(0.114, 0.587, 0.2989)),
    ]


class LastOutput(nn.Module):
    """A neck that reads only the last of the backbone's outputs (SimCLR's
    ``NonLinearNeck`` takes one)."""

    def __init__(self, neck: nn.Module):
        super().__init__()
        self.neck = neck

    def forward(self, x):
        return self.neck((x[-1], ))


@FEATURE_SOURCES.register_module()
class SelfSupervisedFeatures(BaseFeatureSource):
    """Features of a self-supervised model trained on the pool (SimCLR by
    default), as TypiClust and ProbCover use them.

    The model is mmpretrain's ``SimCLR`` with a copy of the target's backbone
    (its architecture and initial weights), SimCLR's two-layer
    ``NonLinearNeck`` (128-d) and ``ContrastiveHead`` (temperature 0.1), and
    mmpretrain's ``SelfSupDataPreprocessor`` with the target's mean and std, so
    that the target's own scoring pipeline and preprocessor feed it. Views are
    the scoring pipeline up to its packing step, then ``MultiView`` of
    :func:`view_pipeline`. Training runs in one process (a distributed run
    needs it trained ahead with ``tools/al_pretrain.py``: SimCLR gathers its
    batch over the ranks, which would make the model depend on the world
    size), seeded by the run's seed; the weights are cached in
    ``<work_dir>/self_supervised/<name>.pth`` (a plain state dict, loaded with
    ``weights_only=True``) with its SHA-256 and settings in ``<name>.json``, and
    reused on resume and by later runs in the work dir (``tools/al_pretrain.py
    CONFIG`` trains it ahead). Features are the backbone's last output, averaged
    over positions.

    Args:
        epochs (int): Training epochs over the pool. Defaults to 10.
        batch_size (int): Images per step (2 views each). Defaults to 128.
        optimizer (dict): Optimizer config. Defaults to SGD, lr 0.15 (SimCLR's
            0.3 x batch / 256), momentum 0.9, weight decay 1e-4, with a cosine
            decay over the steps.
        model (dict, optional): Overrides of the SimCLR config (``neck``,
            ``head``; a ``backbone`` replaces the target's).
        views (list, optional): One view's transforms instead of
            :func:`view_pipeline`.
        init_backbone (bool): Also start the target from the trained backbone
            (before cycle 0, load_from-style), so a run gets self-supervised
            initialisation and active learning in one go. Defaults to False.
        name (str): File name of the cache. Defaults to ``'simclr'``.
    """

    def __init__(self, epochs: int = 10, batch_size: int = 128,
                 optimizer: dict = dict(type='SGD', lr=0.15, momentum=0.9,
                                        weight_decay=1e-4),
                 model: Optional[dict] = None, views: Optional[list] = None,
                 init_backbone: bool = False, name: str = 'simclr'):
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.model_cfg = model or {}
        self.views = views
        self.init_backbone = init_backbone
        self.name = name
        self._model: Optional[nn.Module] = None

    # The interface.
    def features(self, query, pool, indices, description):
        model = self.model(query)
        backbone = model.backbone

        def pooled(_, inputs, data_samples):
            # The target's preprocessor fed these; the SimCLR model has its
            # mean and std.
            out = backbone(inputs.to(next(backbone.parameters()).device))[-1]
            return out.mean(dim=tuple(range(2, out.dim()))) if out.dim() > 2 else out

        return query.scorer(pool).score(list(indices), pooled,
                                        f'{description} ({self.name} features)')

    def init_model(self, query):
        if not self.init_backbone:
            return
        target = _target(query.runner.model)
        state = {k[len('backbone.'):]: v
                 for k, v in self.model(query).state_dict().items()
                 if k.startswith('backbone.')}
        missing, unexpected = target.backbone.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise InputError(
                f'The {self.name} backbone does not fit the target backbone '
                f'(missing {missing[:3]}, unexpected {unexpected[:3]}): leave '
                'train_cfg.initial_features.model.backbone unset, or set '
                'init_backbone=False')
        query.runner.logger.info(f'The target backbone starts from the {self.name} '
                                 'backbone')

    # The model.
    def paths(self, work_dir: str):
        folder = osp.join(work_dir, 'self_supervised')
        return osp.join(folder, f'{self.name}.pth'), osp.join(folder,
                                                              f'{self.name}.json')

    def model(self, query) -> nn.Module:
        """The trained model (trained, or read from the cache, on first use)."""
        if self._model is None:
            runner = query.runner
            device = next(_target(runner.model).parameters()).device
            model = self.build(query).to(device)
            state = broadcast_from_rank0(lambda: self._trained_state(query, model))
            model.load_state_dict(state)
            model.eval()
            self._model = model
        return self._model

    def build(self, query) -> nn.Module:
        """An untrained SimCLR whose backbone is the target's (its config and
        its initial weights), unless ``model.backbone`` is given."""
        runner = query.runner
        target = _target(runner.model)
        cfg = copy.deepcopy(self.model_cfg)
        own_backbone = cfg.pop('backbone', None)
        model_cfg = runner.cfg.model
        backbone = own_backbone or copy.deepcopy(
            model_cfg.get('target', model_cfg)['backbone'])
        backbone.setdefault('_scope_', runner.cfg.get('default_scope'))
        preprocessor = target.data_preprocessor
        normalize = getattr(preprocessor, '_enable_normalize', False)
        mean = preprocessor.mean.flatten().tolist() if normalize else [0.0] * 3
        std = preprocessor.std.flatten().tolist() if normalize else [1.0] * 3
        channels = self._out_channels(query, target.backbone if own_backbone is None
                                      else MODELS.build(copy.deepcopy(backbone)))
        neck = dict(type='NonLinearNeck', in_channels=channels,
                    hid_channels=channels, out_channels=128, num_layers=2,
                    with_avg_pool=True)
        neck.update(cfg.pop('neck', {}))
        head = dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
                    temperature=0.1)
        head.update(cfg.pop('head', {}))
        model = MODELS.build(dict(
            type='mmpretrain.SimCLR', backbone=backbone, neck=neck, head=head,
            data_preprocessor=dict(
                type='mmpretrain.SelfSupDataPreprocessor', mean=mean, std=std,
                to_rgb=bool(getattr(preprocessor, '_channel_conversion', False))),
            **cfg))
        if own_backbone is None:
            # The target's initial weights (pretrained, where it has them).
            model.backbone.load_state_dict(target.backbone.state_dict())
        model.neck = LastOutput(model.neck)
        return model

    @staticmethod
    def _out_channels(query, backbone: nn.Module) -> int:
        """Channels of the backbone's last output, on one pool image."""
        from mmal.engine.pool_scoring import with_pipeline
        dataset = DATASETS.build(with_pipeline(query.pool_dataset_cfg,
                                               query.scoring_pipeline()))
        inputs = default_collate([dataset[0]])['inputs'].float()
        probe = copy.deepcopy(backbone).cpu()
        probe.eval()  # mmpretrain's ResNet.train() returns None
        with torch.no_grad():
            return int(probe(inputs)[-1].shape[1])

    def settings(self, query) -> dict:
        """What the cached model depends on (a different one trains anew)."""
        return dict(epochs=self.epochs, batch_size=self.batch_size,
                    optimizer=self.optimizer, model=self.model_cfg,
                    views=self.views, seed=query.runner.seed,
                    pipeline=self._pipeline(query))

    def _pipeline(self, query) -> list:
        prefix = list(query.scoring_pipeline())
        if prefix and 'Pack' in str(prefix[-1].get('type', '')):
            prefix = prefix[:-1]
        views = self.views or view_pipeline(self._image_size(query, prefix))
        return prefix + [dict(type='mmpretrain.MultiView', num_views=2,
                              transforms=[views]),
                         dict(type='mmpretrain.PackInputs')]

    @staticmethod
    def _image_size(query, prefix: list):
        """(w, h) of the first pool image after the scoring pipeline's
        loading and resizing steps."""
        from mmal.engine.pool_scoring import with_pipeline
        dataset = DATASETS.build(with_pipeline(query.pool_dataset_cfg, prefix))
        height, width = dataset[0]['img'].shape[:2]
        return width, height

    def _loader(self, query, shuffle: bool, batch_size: int,
                generator: Optional[torch.Generator] = None):
        """The pool through the two-view pipeline."""
        from mmal.engine.pool_scoring import with_pipeline
        dataset = DATASETS.build(with_pipeline(query.pool_dataset_cfg,
                                               self._pipeline(query)))
        return torch.utils.data.DataLoader(
            dataset, batch_size=min(batch_size, len(dataset)), shuffle=shuffle,
            generator=generator, collate_fn=default_collate,
            drop_last=shuffle and len(dataset) >= 2 * batch_size)

    def _trained_state(self, query, model: nn.Module) -> dict:
        """Rank 0: the cached weights if they were trained with these settings,
        else trained now and cached."""
        runner = query.runner
        checkpoint, record_path = self.paths(runner.work_dir)
        settings = json.loads(json.dumps(self.settings(query), default=str))
        if osp.isfile(record_path) and osp.isfile(checkpoint):
            with open(record_path) as f:
                record = json.load(f)
            if record.get('settings') == settings:
                with open(checkpoint, 'rb') as f:
                    data = f.read()
                if hashlib.sha256(data).hexdigest() != record.get('sha256'):
                    raise InputError(
                        f'{checkpoint} is not the file mmal wrote (its SHA-256 '
                        f'differs from {record_path}): delete both to train the '
                        f'{self.name} model again')
                runner.logger.info(f'Reusing the {self.name} model of {checkpoint}')
                return torch.load(io.BytesIO(data), map_location='cpu',
                                  weights_only=True)
            runner.logger.warning(f'{checkpoint} was trained with other settings: '
                                  'training it again')
        if get_dist_info()[1] > 1:
            # SimCLR gathers its batch over every rank: trained on the whole
            # group, the model would depend on the world size.
            raise InputError(
                f'{checkpoint} is not there yet, and {self.name} trains in one '
                'process: train it first with python tools/al_pretrain.py CONFIG '
                f'--work-dir {runner.work_dir}, then start this run again')
        start = time.time()
        self.train(query, model)
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        buffer = io.BytesIO()
        torch.save(state, buffer)
        data = buffer.getvalue()
        # The weights first, then the record that vouches for them.
        write_atomic(data, checkpoint)
        dump_json_atomic(dict(checkpoint=osp.basename(checkpoint),
                              sha256=hashlib.sha256(data).hexdigest(),
                              settings=settings, train_seconds=round(
                                  time.time() - start, 1)), record_path)
        return state

    def train(self, query, model: nn.Module) -> None:
        """SimCLR's own ``train_step`` over the pool, seeded by the run's seed;
        the global random states are restored afterwards."""
        runner = query.runner
        seed = runner.seed or 0
        states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            loader = self._loader(query, shuffle=True, batch_size=self.batch_size,
                                  generator=torch.Generator().manual_seed(seed))
            optim_wrapper = build_optim_wrapper(
                model, dict(type='OptimWrapper', optimizer=self.optimizer))
            steps = max(1, self.epochs * len(loader))
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
                optim_wrapper.optimizer, T_max=steps)
            runner.logger.info(
                f'Training {self.name} on {len(loader.dataset)} pool images for '
                f'{self.epochs} epochs ({len(loader)} steps each)')
            model.train()
            start = time.time()
            for epoch in range(self.epochs):
                total = 0.0
                for batch in loader:
                    losses = model.train_step(batch, optim_wrapper)
                    schedule.step()
                    total += float(losses['loss'].detach())
                runner.logger.info(
                    f'{self.name} epoch {epoch + 1}/{self.epochs}: loss '
                    f'{total / max(1, len(loader)):.4f} '
                    f'({time.time() - start:.0f} s)')
            model.eval()
        finally:
            random.setstate(states[0])
            np.random.set_state(states[1])
            torch.set_rng_state(states[2])


def _target(model) -> nn.Module:
    from mmal.engine.pool_scoring import unwrap
    model = unwrap(model)
    return getattr(model, 'target', model)
