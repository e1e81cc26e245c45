import copy
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.model import is_model_wrapper
from mmengine.utils import ProgressBar

from mmal.datasets import IndexSampler
from mmal.models import build_loss_adapter
from mmal.models.adapters import posteriors
from mmal.utils import leaf_datasets

# fn(model, preprocessed inputs, data samples) -> one row per sample.
OutputFn = Callable[..., torch.Tensor]


def unwrap(model):
    return model.module if is_model_wrapper(model) else model


def leaf_pipeline(dataset_cfg: dict) -> list:
    """The pipeline of the first leaf dataset of a (Concat/Repeat) dataset config."""
    for leaf in leaf_datasets(dataset_cfg):
        if 'pipeline' in leaf:
            return leaf['pipeline']
    raise KeyError('Cannot find a pipeline in the dataset config')


def with_pipeline(dataset_cfg: dict, pipeline: list) -> dict:
    """A copy of a (Concat/Repeat) dataset config whose leaves use ``pipeline``."""
    dataset_cfg = copy.deepcopy(dataset_cfg)
    for leaf in leaf_datasets(dataset_cfg):
        leaf['pipeline'] = copy.deepcopy(pipeline)
    return dataset_cfg


def _target_and_adapter(model):
    target = getattr(model, 'target', model)
    return target, getattr(model, 'adapter', None) or build_loss_adapter(target)


def predicted_loss(model, inputs, data_samples) -> torch.Tensor:
    return model.predict_loss(inputs, data_samples)


def entropy(model, inputs, data_samples) -> torch.Tensor:
    target, adapter = _target_and_adapter(model)
    return adapter.entropy(target, inputs, data_samples)


def features(model, inputs, data_samples) -> torch.Tensor:
    target, adapter = _target_and_adapter(model)
    return adapter.features(target, inputs, data_samples)


def margin(model, inputs, data_samples) -> torch.Tensor:
    target, adapter = _target_and_adapter(model)
    return adapter.uncertainty(target, inputs, data_samples, posteriors.margin)


def least_confidence(model, inputs, data_samples) -> torch.Tensor:
    target, adapter = _target_and_adapter(model)
    return adapter.uncertainty(target, inputs, data_samples,
                               posteriors.least_confidence)


def gradient_embedding(model, inputs, data_samples) -> torch.Tensor:
    target, adapter = _target_and_adapter(model)
    return adapter.gradient_embedding(target, inputs, data_samples)


class MutualInformation:
    """BALD's score per sample from ``passes`` MC dropout passes, the masks fixed
    by ``seed``, ``head_dropout`` for a model without dropout layers (see
    :func:`mmal.models.adapters.posteriors.mutual_information`)."""

    def __init__(self, passes: int, seed: int, head_dropout: float = 0.5):
        self.passes, self.seed, self.head_dropout = passes, seed, head_dropout

    def __call__(self, model, inputs, data_samples) -> torch.Tensor:
        target, adapter = _target_and_adapter(model)
        return posteriors.mutual_information(adapter.mc_probabilities(
            target, inputs, data_samples, self.passes, self.seed,
            self.head_dropout))


# A pool sample of several dataset samples (the people of one image) is as
# informative as its hardest one ('max', the default), and its features are
# their mean.
INSTANCE_REDUCTION = {features: 'mean', gradient_embedding: 'mean'}


def reduce_instances(rows: np.ndarray, owner: np.ndarray,
                     output_fn: OutputFn) -> np.ndarray:
    """One row per owner from consecutive rows of the same owner."""
    if len(rows) == 0 or owner[-1] + 1 == len(owner):
        return rows
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    if INSTANCE_REDUCTION.get(output_fn, 'max') == 'max':
        return np.maximum.reduceat(rows, starts, axis=0)
    counts = np.diff(np.r_[starts, len(rows)])
    return (np.add.reduceat(rows, starts, axis=0) /
            counts.reshape((-1, ) + (1, ) * (rows.ndim - 1)))


class PoolScorer:
    """Runs a model output function over pool samples, on all ranks.

    Reads the samples through their own scoring dataset (the training samples with
    the test pipeline), splits them across ranks without padding, and gathers the
    outputs back in the order asked for, so the result does not depend on the
    world size. A pool sample made of several dataset samples (the layout's
    ``instances``) gets one row, see :data:`INSTANCE_REDUCTION`.

    Args:
        runner: The mmengine runner.
        dataset: The scoring dataset, built with the same structure as the pool's.
        layout: The pool's :class:`PoolLayout` (maps pool to dataset indices).
        dataloader_cfg (dict): ``batch_size``, ``num_workers``, ``collate_fn``...
    """

    def __init__(self, runner, dataset, layout, dataloader_cfg: dict):
        self.runner = runner
        self.dataset = dataset
        self.layout = layout
        self.dataloader_cfg = {
            key: value for key, value in dataloader_cfg.items()
            if key not in ('dataset', 'sampler', 'batch_sampler')}
        self.dataloader_cfg['persistent_workers'] = False

    def score(self, pool_indices: Sequence[int], output_fn: OutputFn,
              description: str = 'scoring') -> np.ndarray:
        rank, world_size = get_dist_info()
        positions = list(range(rank, len(pool_indices), world_size))
        indices, owner = self._instances([pool_indices[p] for p in positions])
        loader = self._loader(indices)
        model = unwrap(self.runner.model)
        total = len(self._instances(pool_indices)[0])
        if rank == 0:
            self.runner.logger.info(f'{description}: {len(pool_indices)} samples')
        progress = ProgressBar(total) if rank == 0 else None
        model.eval()
        local = []
        with torch.no_grad():
            for batch in loader:
                data = model.data_preprocessor(batch, False)
                out = output_fn(model, data['inputs'], data['data_samples'])
                local.append(out.detach().float().cpu().numpy())
                if progress is not None:
                    progress.update(min(len(out) * world_size,
                                        total - progress.completed))
        if progress is not None:
            print(flush=True)
        local_array = (reduce_instances(np.concatenate(local), owner, output_fn)
                       if local else None)
        gathered = all_gather_object((positions, local_array))
        return self._assemble(gathered, len(pool_indices))

    def predict(self, pool_indices: Sequence[int]) -> list:
        """The model's own predictions (``test_step`` data samples) for the given
        pool samples, in order; on the calling rank only. Where the layout merges
        dataset samples (the people of an image), a list per pool sample."""
        indices, owner = self._instances(pool_indices)
        model = unwrap(self.runner.model)
        model.eval()
        predictions = []
        with torch.no_grad():
            for batch in self._loader(indices):
                predictions.extend(model.test_step(batch))
        if self.layout.instances.shape[1] == 1:
            return predictions
        grouped = [[] for _ in pool_indices]
        for position, prediction in zip(owner, predictions):
            grouped[position].append(prediction)
        return grouped

    def _instances(self, pool_indices: Sequence[int]):
        """The dataset samples of the given pool samples, and the position in
        ``pool_indices`` that each belongs to."""
        instances = self.layout.instances[np.asarray(pool_indices, dtype=int)]
        valid = instances >= 0
        return instances[valid], np.nonzero(valid)[0]

    def _loader(self, dataset_indices: Sequence[int]):
        """A dataloader over the given scoring-dataset samples, in order."""
        sampler = IndexSampler([int(i) for i in dataset_indices])
        return self.runner.build_dataloader(
            dict(self.dataloader_cfg, dataset=self.dataset, sampler=sampler))

    @staticmethod
    def _assemble(gathered, total: int) -> np.ndarray:
        result: Optional[np.ndarray] = None
        for positions, values in gathered:
            if values is None:
                continue
            if result is None:
                result = np.zeros((total, ) + values.shape[1:], dtype=values.dtype)
            result[positions] = values
        if result is None:
            raise RuntimeError('No samples were scored')
        return result
