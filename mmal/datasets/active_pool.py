import hashlib
import json
import os.path as osp
from collections import Counter
from typing import List, Optional, Sequence

import numpy as np
from mmengine.dist import is_main_process

from mmal.utils import InputError, dump_json_atomic
from mmal.utils.dist import broadcast_from_rank0
from .pool_layout import PoolLayout


class ActivePool:
    """Which pool samples are labeled, in what order, and what each cycle did:
    ``al_state.json``.

    ``labeled`` lists pool positions in labeling order; ``history`` has one record
    per finished cycle (``cycle``, ``num_labeled``, ``metrics``, ``checkpoint``,
    ``epoch``, ``iter`` and, once the model of that cycle has queried, ``queried``
    with the ``query_size`` and ``subset_size`` used, and ``returned_to_pool``
    where a person left queried samples unlabeled). ``awaiting`` is the one record
    of a query whose labels are out (see :meth:`mmal.oracles.Query.record`; its
    ``oracle`` part is what the oracle needs to collect them), and
    ``initial_query`` the closed query that chose the initial labels. The file is
    replaced atomically, so a crash leaves the previous state; only rank 0 reads
    it, and the other ranks get its content by broadcast (no shared work dir
    needed).

    Args:
        layout (PoolLayout): The pool.
        path (str): The JSON file.
        strategy (str): Strategy name, checked on resume.
        seed (int): The run's seed, checked on resume.
        fixed (bool): The pool cannot change between runs (simulation: checked by
            a fingerprint). False for a folder of images that may grow: labeled
            keys no longer in the pool are kept in the state, not refused.
    """

    version = 3

    def __init__(self, layout: PoolLayout, path: str, strategy: str, seed: int,
                 fixed: bool = True):
        self.layout = layout
        self.fixed = fixed
        # Labeled keys that are not in this (changing) pool any more.
        self.labeled_elsewhere: List[dict] = []
        self.path = path
        self.strategy = strategy
        self.seed = seed
        self.initial_size: Optional[int] = None
        self.labeled: List[int] = []
        self.history: List[dict] = []
        self.awaiting: Optional[dict] = None
        self.initial_query: Optional[dict] = None
        self._is_labeled = np.zeros(len(layout), dtype=bool)

    def __len__(self) -> int:
        return len(self.layout)

    @property
    def num_labeled(self) -> int:
        return len(self.labeled)

    @property
    def cycles_done(self) -> int:
        return len(self.history)

    @property
    def queries_done(self) -> int:
        return sum(record.get('queried') is not None for record in self.history)

    def needs_query(self) -> bool:
        """The last finished cycle's model has not chosen its samples yet (and
        no query awaits labels)."""
        if not self.history or self.awaiting is not None:
            return False
        return self.history[-1].get('queried') is None

    def label(self, pool_indices: Sequence[int]) -> None:
        pool_indices = [int(i) for i in pool_indices]
        seen = set()
        for index in pool_indices:
            if self._is_labeled[index] or index in seen:
                raise ValueError(f'Sample {self.layout.keys[index]!r} is already '
                                 'labeled')
            seen.add(index)
        self._is_labeled[pool_indices] = True
        self.labeled.extend(pool_indices)

    def label_keys(self, keys: Sequence[str]) -> None:
        position = self.layout.position
        if not self.fixed:
            self.labeled_elsewhere += [dict(key=key, index=None) for key in keys
                                       if key not in position]
            keys = [key for key in keys if key in position]
        self.label([position[key] for key in keys])

    def unlabeled_indices(self) -> np.ndarray:
        return np.flatnonzero(~self._is_labeled)

    def dataset_indices(self) -> List[int]:
        """Dataset indices of the labeled samples (every copy under Repeat)."""
        return self.layout.dataset_indices(sorted(self.labeled))

    def record_query(self, queried: List[dict], query_size: int,
                     subset_size: Optional[int], returned: Optional[List[str]] = None,
                     initial: bool = False) -> None:
        """Label what the last finished cycle's model chose (``initial``: the
        initial set). ``returned`` are queried keys left unlabeled, back in the
        pool."""
        self.label_keys([item['key'] for item in queried])
        record = dict(queried=queried, query_size=query_size,
                      subset_size=subset_size)
        if returned is not None:
            record['returned_to_pool'] = returned
        if initial:
            self.initial_query = record
        else:
            self.history[-1].update(record)

    def close_awaiting(self, returned: List[str]) -> None:
        """Record the open query's labels; the ``returned`` keys stay unlabeled."""
        awaiting, back = self.awaiting, set(returned)
        initial = awaiting['cycle'] is None
        if not initial and awaiting['cycle'] != self.history[-1]['cycle']:
            raise ValueError(f'{self.path}: the open query is of cycle '
                             f'{awaiting["cycle"]}, not of the last finished one')
        self.awaiting = None
        self.record_query([q for q in awaiting['queried'] if q['key'] not in back],
                          awaiting['query_size'], awaiting['subset_size'],
                          returned=list(returned), initial=initial)

    def _pool_info(self) -> dict:
        digest = hashlib.sha256('\n'.join(self.layout.keys).encode()).hexdigest()
        return dict(size=len(self.layout), key_field=self.layout.key_field,
                    fingerprint=digest[:16])

    def state_dict(self) -> dict:
        keys, first = self.layout.keys, self.layout.first_indices
        return dict(
            version=self.version, strategy=self.strategy, seed=self.seed,
            pool=self._pool_info(), initial_size=self.initial_size,
            labeled=self.labeled_elsewhere +
            [dict(key=keys[i], index=int(first[i])) for i in self.labeled],
            history=self.history, initial_query=self.initial_query,
            awaiting=self.awaiting)

    def save(self) -> None:
        """Write ``al_state.json`` atomically (rank 0 only)."""
        if is_main_process():
            # Compact: a million-sample pool's state is written in a fraction of
            # the indented time (read it with python -m json.tool).
            dump_json_atomic(self.state_dict(), self.path, indent=None)

    def exists(self) -> bool:
        return broadcast_from_rank0(
            lambda: osp.isfile(self.path))

    def load(self) -> None:
        """Restore from :attr:`path`; fails clearly on a corrupted file or a file of
        another dataset, strategy or seed, changing nothing."""

        def read():
            # Bytes: binary garbage is reported as a corrupted file, below.
            with open(self.path, 'rb') as f:
                text = f.read()
            # Version 2 kept part of an open query in queries/awaiting.json.
            exported = osp.join(osp.dirname(self.path), 'queries', 'awaiting.json')
            if not osp.isfile(exported):
                return text, None
            with open(exported) as f:
                return text, f.read()

        self.load_state_dict(*broadcast_from_rank0(read))

    def load_state_dict(self, text, version2_export: Optional[str] = None
                        ) -> None:
        """Restore from the JSON ``text`` (str or bytes) of :meth:`state_dict`;
        ``version2_export``: a version 2 state's ``queries/awaiting.json``."""
        fix = f'move {self.path} away to start over, or use the matching config'
        try:
            state = json.loads(text)
            pool, labeled, history = (state['pool'], state['labeled'],
                                      state['history'])
            keys = [item['key'] for item in labeled]
            if not all(isinstance(key, str) for key in keys):
                raise TypeError('labeled keys must be strings')
            for record in history:
                # What a resume reads of each finished cycle.
                if not (isinstance(record['cycle'], int)
                        and isinstance(record['checkpoint'], str)
                        and isinstance(record['epoch'], int)
                        and isinstance(record['iter'], int)):
                    raise TypeError(f'history record {record!r:.80} has a field '
                                    'of the wrong type')
            strategy, seed = state['strategy'], state['seed']
            # Version 1 states did not record it: cycle 0 trained on the initial set.
            initial_size = state.get('initial_size', history[0]['num_labeled']
                                     if history else None)
            awaiting = state.get('awaiting')
            if history and 'awaiting' in history[-1]:
                awaiting = version2_awaiting(history[-1], version2_export)
        except (ValueError, KeyError, TypeError, IndexError,
                RecursionError) as error:
            # ValueError includes a JSON or UTF-8 decoding error.
            raise InputError(f'{self.path} is corrupted ({type(error).__name__}: '
                             f'{error}); {fix}') from None
        twice = [key for key, count in Counter(keys).items() if count > 1]
        if twice:
            raise InputError(f'{self.path} lists samples as labeled twice '
                             f'({twice[:3]}): it was edited or damaged; {fix}')
        expected = self._pool_info()
        if self.fixed and pool != expected:
            raise InputError(
                f'{self.path} belongs to another dataset: it describes a pool of '
                f'{pool.get("size")} samples keyed by {pool.get("key_field")!r} '
                f'(fingerprint {pool.get("fingerprint")}), the configured '
                f'train_dataloader has {expected["size"]} keyed by '
                f'{expected["key_field"]!r} (fingerprint {expected["fingerprint"]}); '
                f'{fix}')
        if strategy != self.strategy:
            raise InputError(f'{self.path} was made by strategy {strategy}, the '
                             f'config asks for {self.strategy}; {fix}')
        if seed != self.seed:
            raise InputError(f'{self.path} was made with seed {seed}, this run has '
                             f'seed {self.seed}: add --cfg-options '
                             f'randomness.seed={seed}')
        unknown = [key for key in keys if key not in self.layout.position]
        if unknown and self.fixed:
            raise InputError(f'{self.path} lists samples not in the pool '
                             f'({unknown[:3]}); {fix}')
        self.labeled, self.history, self.labeled_elsewhere = [], history, []
        self._is_labeled[:] = False
        self.initial_size = initial_size
        self.awaiting = awaiting
        self.initial_query = state.get('initial_query')
        self.label_keys(keys)


def version2_awaiting(last: dict, export: Optional[str]) -> dict:
    """A version 2 state's open query: ``history[-1]['awaiting']``, with the rest
    of it from that version's ``queries/awaiting.json`` (``export``)."""
    record = last.pop('awaiting')
    old = json.loads(export)
    sizes = {item['key']: item for item in old['items']}
    return dict(
        cycle=last['cycle'], query_size=record['query_size'],
        subset_size=record['subset_size'],
        queried=[dict(q, width=sizes[q['key']]['width'],
                      height=sizes[q['key']]['height']) for q in record['queried']],
        oracle={name: old.get(name) for name in (
            'query_id', 'task', 'names', 'img_root', 'label_root',
            'image_url_prefix', 'document_root')})
