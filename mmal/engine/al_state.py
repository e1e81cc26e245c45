import hashlib
import json
import os.path as osp
from typing import List

from mmal.utils import dump_json_atomic


class ActiveLearningState:
    """What has been labeled and what each cycle measured: ``al_state.json``.

    ``labeled`` lists pool samples in the order they were labeled, each with its
    stable key and its dataset index; ``history`` has one record per finished cycle.
    The file is replaced atomically, so a crash leaves the previous cycle's state.

    Args:
        path (str): The JSON file.
        strategy (str): Strategy name, checked on resume.
        seed (int): The run's seed, checked on resume.
        layout (PoolLayout): The pool the indices refer to.
    """

    version = 1

    def __init__(self, path: str, strategy: str, seed: int, layout):
        self.path = path
        self.strategy = strategy
        self.seed = seed
        self.layout = layout
        self.labeled: List[int] = []
        self.history: List[dict] = []
        self._labeled_set = set()

    def exists(self) -> bool:
        return osp.isfile(self.path)

    def label(self, pool_indices) -> None:
        for index in pool_indices:
            if index in self._labeled_set:
                raise ValueError(f'Sample {self.layout.keys[index]!r} is already '
                                 'labeled')
            self._labeled_set.add(index)
            self.labeled.append(index)

    def _pool_info(self) -> dict:
        digest = hashlib.sha256('\n'.join(self.layout.keys).encode()).hexdigest()
        return dict(size=len(self.layout), key_field=self.layout.key_field,
                    fingerprint=digest[:16])

    def to_dict(self) -> dict:
        return dict(
            version=self.version, strategy=self.strategy, seed=self.seed,
            pool=self._pool_info(),
            labeled=[dict(key=self.layout.keys[i], index=self.layout.groups[i][0])
                     for i in self.labeled],
            history=self.history)

    def save(self) -> None:
        dump_json_atomic(self.to_dict(), self.path)

    def load(self) -> None:
        """Restore from :attr:`path`; fails clearly on a corrupted file or a file of
        another dataset, strategy or seed, changing nothing."""
        fix = f'move {self.path} away to start over, or use the matching config'
        try:
            with open(self.path) as f:
                state = json.load(f)
            pool, labeled, history = (state['pool'], state['labeled'],
                                      state['history'])
            keys = [item['key'] for item in labeled]
            strategy, seed = state['strategy'], state['seed']
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f'{self.path} is corrupted ({type(error).__name__}: '
                             f'{error}); {fix}') from None
        expected = self._pool_info()
        if pool != expected:
            raise ValueError(
                f'{self.path} belongs to another dataset: it describes a pool of '
                f'{pool.get("size")} samples keyed by {pool.get("key_field")!r} '
                f'(fingerprint {pool.get("fingerprint")}), the configured '
                f'train_dataloader has {expected["size"]} keyed by '
                f'{expected["key_field"]!r} (fingerprint {expected["fingerprint"]}); '
                f'{fix}')
        if strategy != self.strategy:
            raise ValueError(f'{self.path} was made by strategy {strategy}, the '
                             f'config asks for {self.strategy}; {fix}')
        if seed != self.seed:
            raise ValueError(f'{self.path} was made with seed {seed}, this run has '
                             f'seed {self.seed}: add --cfg-options '
                             f'randomness.seed={seed}')
        unknown = [key for key in keys if key not in self.layout.position]
        if unknown:
            raise ValueError(f'{self.path} lists samples not in the pool '
                             f'({unknown[:3]}); {fix}')
        self.labeled, self._labeled_set, self.history = [], set(), history
        self.label([self.layout.position[key] for key in keys])
