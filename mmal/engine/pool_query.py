from typing import List, Optional, Sequence

import numpy as np
from mmengine.registry import DATASETS

from mmal.datasets import ActivePool, PoolLayout
from mmal.oracles import Query
from mmal.strategies import BaseStrategy, Candidates, RandomStrategy
from .pool_scoring import (MutualInformation, PoolScorer, entropy, features,
                           gradient_embedding, leaf_pipeline, least_confidence,
                           margin, predicted_loss, unwrap, with_pipeline)

# Random streams per cycle, so a resumed run draws what an uninterrupted one would.
INITIAL_DRAW, SUBSET_DRAW, STRATEGY_DRAW = 0, 1, 2


def cycle_rng(seed: int, cycle: int, stream: int) -> np.random.Generator:
    """The random stream of one cycle; it never depends on the rank."""
    return np.random.default_rng([seed, cycle, stream])


class PoolQuery:
    """One query: score a random unlabeled subset with the current model and let
    the strategy choose; the strategy asks for the outputs it needs.

    The scoring dataset is the training dataset with the test pipeline
    (``score_pipeline`` overrides it), built on first use.

    Core-set's centers (``labeled_features``) are the labeled pool samples, or,
    when ``centers_dataset_cfg`` is given (a person's run: labeled.json), every
    sample of that dataset through the same pipeline, read anew per query.

    Args:
        runner: The mmengine runner.
        strategy (BaseStrategy): The query strategy.
        pool_dataset_cfg (dict): The pool's dataset config.
        score_pipeline (list, optional): Pipeline for scoring.
        score_batch_size (int, optional): Defaults to the test dataloader's.
        centers_dataset_cfg (dict, optional): The labeled samples that core-set
            takes as centers, when they are not the pool's labeled samples (see
            :meth:`mmal.oracles.BaseOracle.centers_dataset_cfg`).
        initial_strategy (BaseStrategy, optional): Chooses the initial set
            before any label; defaults to random.
        initial_features (BaseFeatureSource, optional): The ``features`` the
            initial strategy may ask for (:mod:`mmal.features`).
    """

    def __init__(self, runner, strategy: BaseStrategy, pool_dataset_cfg: dict,
                 score_pipeline: Optional[list] = None,
                 score_batch_size: Optional[int] = None,
                 centers_dataset_cfg: Optional[dict] = None,
                 initial_strategy: Optional[BaseStrategy] = None,
                 initial_features=None):
        self.runner = runner
        self.strategy = strategy
        self.initial_strategy = initial_strategy or RandomStrategy()
        self.initial_features = initial_features
        self.pool_dataset_cfg = pool_dataset_cfg
        self.score_pipeline = score_pipeline
        self.score_batch_size = score_batch_size
        self.centers_dataset_cfg = centers_dataset_cfg
        self._scorer: Optional[PoolScorer] = None

    def _loader_cfg(self) -> dict:
        """The scoring dataloader config; its ``dataset`` holds the pipeline."""
        cfg = self.runner.cfg
        loader_cfg = dict(cfg.get('test_dataloader') or cfg.get('val_dataloader'))
        if self.score_batch_size:
            loader_cfg['batch_size'] = self.score_batch_size
        return loader_cfg

    def _pipeline(self, loader_cfg: dict) -> list:
        return self.score_pipeline or leaf_pipeline(loader_cfg['dataset'])

    def scoring_pipeline(self) -> list:
        """The pipeline that pool samples are scored through."""
        return self._pipeline(self._loader_cfg())

    def scorer(self, pool: ActivePool) -> PoolScorer:
        if self._scorer is None:
            loader_cfg = self._loader_cfg()
            pipeline = self._pipeline(loader_cfg)
            dataset = DATASETS.build(with_pipeline(self.pool_dataset_cfg, pipeline))
            # Same config but the pipeline: same samples, in the same order.
            if len(dataset) != pool.layout.dataset_length:
                raise RuntimeError('The scoring dataset (training data with the test '
                                   'pipeline) lists other samples than the pool')
            self._scorer = PoolScorer(self.runner, dataset, pool.layout, loader_cfg)
        return self._scorer

    def centers_features(self, description: str,
                         limit: Optional[int] = None) -> np.ndarray:
        """Features of the first ``limit`` (default: all) samples of
        ``centers_dataset_cfg``, through the scoring pipeline. Built on each
        call: every import grows labeled.json."""
        loader_cfg = self._loader_cfg()
        dataset = DATASETS.build(with_pipeline(self.centers_dataset_cfg,
                                               self._pipeline(loader_cfg)))
        if len(dataset) == 0:
            return np.zeros((0, 0), dtype=np.float32)
        # Per image, as the pool's samples are (top-down pose: its people merged).
        layout = PoolLayout(dataset, 'img_path', merge_same_keys=True)
        count = len(layout) if limit is None else min(limit, len(layout))
        scorer = PoolScorer(self.runner, dataset, layout, loader_cfg)
        return scorer.score(list(range(count)), features, description)

    def candidates(self, pool: ActivePool, subset: Sequence[int],
                   description: str,
                   max_centers: Optional[int] = None) -> Candidates:
        """Candidates over the pool positions ``subset``; outputs computed on
        demand with the model as it is then. ``labeled_features`` scores the
        first ``max_centers`` (default: all) centers."""
        scorer = self.scorer(pool)

        def source(output_fn, name):

            def compute(positions):
                chosen = subset if positions is None else [subset[p] for p in positions]
                return scorer.score(chosen, output_fn, f'{description}: {name}')

            return compute

        def labeled_features(positions):
            if self.centers_dataset_cfg is not None:
                # Also the user's own labeled images, which are not pool samples.
                return self.centers_features(f'{description}: labeled features',
                                             max_centers)
            labeled = sorted(pool.labeled)[:max_centers]
            if not labeled:  # no centers yet
                return np.zeros((0, 0), dtype=np.float32)
            return scorer.score(labeled, features,
                                f'{description}: labeled features')

        keys = [pool.layout.keys[i] for i in subset]
        return Candidates(keys, dict(
            predicted_loss=source(predicted_loss, 'predicted loss'),
            entropy=source(entropy, 'entropy'),
            features=source(features, 'features'),
            labeled_features=labeled_features,
            margin=source(margin, 'margin'),
            least_confidence=source(least_confidence, 'least confidence'),
            gradient_embedding=source(gradient_embedding, 'gradient embedding'),
            mutual_information=lambda positions, **options: source(
                MutualInformation(**options),
                f"mutual information, {options['passes']} passes")(positions)))

    def run(self, pool: ActivePool, cycle: int, query_size: int,
            subset_size: int, seed: int) -> Query:
        """Choose up to ``query_size`` samples with the model of ``cycle``."""
        unlabeled = pool.unlabeled_indices()
        size = min(subset_size, len(unlabeled))
        subset = np.sort(cycle_rng(seed, cycle, SUBSET_DRAW).choice(
            unlabeled, size=size, replace=False)).tolist()
        candidates = self.candidates(pool, subset, f'Query after cycle {cycle + 1}')
        chosen, scores = self.strategy.select(
            candidates, min(query_size, size), cycle_rng(seed, cycle, STRATEGY_DRAW))
        return self._query(pool, cycle, chosen, scores, query_size, subset_size)

    def initial(self, pool: ActivePool, size: int, seed: int) -> Query:
        """The initial set: ``size`` unlabeled samples chosen by the initial
        strategy before any label (random by default: the seed's draw, in pool
        order); its ``features`` come from the initial feature source."""
        unlabeled = pool.unlabeled_indices().tolist()
        description = 'Initial query'

        def features(positions):
            chosen = unlabeled if positions is None else [unlabeled[p]
                                                          for p in positions]
            return self.initial_features.features(self, pool, chosen, description)

        candidates = Candidates(
            [pool.layout.keys[i] for i in unlabeled],
            dict(features=features,
                 labeled_features=lambda positions: np.zeros((0, 0), np.float32)))
        keys, scores = self.initial_strategy.select(
            candidates, min(size, len(unlabeled)),
            cycle_rng(seed, 0, INITIAL_DRAW))
        return self._query(pool, None, keys, scores, size, None, trained=False)

    def _query(self, pool: ActivePool, cycle: Optional[int], keys: List[str],
               scores: List[Optional[float]], query_size: int,
               subset_size: Optional[int], trained: bool = True) -> Query:
        positions = [pool.layout.position[key] for key in keys]

        def image_infos():
            dataset = self.scorer(pool).dataset
            infos = [dataset.get_data_info(int(pool.layout.first_indices[p]))
                     for p in positions]
            return [dict(img_path=info.get('img_path'), width=info.get('width'),
                         height=info.get('height')) for info in infos]

        return Query(
            cycle=cycle,
            items=[dict(key=key, score=score) for key, score in zip(keys, scores)],
            query_size=query_size, subset_size=subset_size, image_infos=image_infos,
            predictions=(lambda: self.scorer(pool).predict(positions))
            if trained else None,
            metainfo=lambda: self.scorer(pool).dataset.metainfo)

    def probe(self, pool: ActivePool) -> None:
        """Run the strategy on two pool samples before training, so a strategy
        that cannot work with this model fails now, not after a cycle."""
        name = type(self.strategy).__name__
        self.strategy.check_model(unwrap(self.runner.model))
        unlabeled = pool.unlabeled_indices()
        subset = (unlabeled if len(unlabeled) else np.arange(len(pool)))[:2].tolist()
        try:
            candidates = self.candidates(pool, subset, f'Checking {name}',
                                         max_centers=2)
            self.strategy.select(candidates, 1, np.random.default_rng(0))
        except Exception as error:
            raise RuntimeError(
                f'{name} cannot run with this model and data (checked on '
                f'{len(subset)} pool samples before training): '
                f'{type(error).__name__}: {error}') from error
