"""The oracle interface: everything in an active learning run that depends on who
labels the samples, asked for by :class:`mmal.engine.ActiveLearningLoop`."""
import contextlib
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence

from mmal.datasets import ActivePool, PoolLayout
from mmal.utils import InputError


@dataclass
class Query:
    """The samples a strategy chose, for the oracle to label.

    ``items`` are the query items in query order (highest score first), each
    ``dict(key, score)``; ``score`` is None where the strategy has none (random).
    An oracle that hands images to a person adds their displayed ``width`` and
    ``height``; that is the one shape of a query item, in ``al_state.json`` too.
    ``cycle`` is the cycle whose model chose (None: the initial set, chosen before
    any training). ``image_infos`` and ``predictions`` read the chosen samples'
    data infos and the model's predictions, in query order, on the calling rank;
    ``predictions`` is None when no model has been trained yet; ``metainfo`` is
    the pool dataset's.
    """

    cycle: Optional[int]
    items: List[dict]
    query_size: int
    subset_size: Optional[int]
    image_infos: Callable[[], List[dict]] = field(repr=False, default=list)
    predictions: Optional[Callable[[], list]] = field(repr=False, default=None)
    metainfo: Callable[[], dict] = field(repr=False, default=dict)

    @property
    def name(self) -> str:
        """``cycle_<k>``, or ``initial`` for the set labeled before cycle 0."""
        return 'initial' if self.cycle is None else f'cycle_{self.cycle}'

    @property
    def keys(self) -> List[str]:
        return [item['key'] for item in self.items]

    def record(self) -> dict:
        """The query as ``al_state.json`` records it while its labels are out."""
        return dict(cycle=self.cycle, queried=[dict(item) for item in self.items],
                    query_size=self.query_size, subset_size=self.subset_size)


class BaseOracle:
    """Who labels the samples a strategy chose.

    The loop never asks what kind of oracle it has; it asks the oracle for what
    differs between them: which datasets train and form the pool, which samples
    are labeled from the start, how a query is delivered (labeled at once, or
    handed to a person and awaited), how pending labels are collected when the
    run resumes, and what core-set counts as labeled. Methods are called on every
    rank; an oracle that reads or writes files does so on rank 0 and broadcasts.

    The default methods are those of a fully annotated pool
    (:class:`SimulatedOracle`).
    """

    #: The pool cannot change between runs (checked by a fingerprint on resume).
    fixed_pool = True

    def setup(self, runner, train_dataset_cfg: dict,
              unlabeled_dataset_cfg: Optional[dict],
              initial_size: Optional[int]) -> None:
        """Check the settings against this oracle before anything is built;
        ``train_dataset_cfg`` is ``train_dataloader.dataset``,
        ``unlabeled_dataset_cfg`` is ``train_cfg.unlabeled_dataset``."""
        if unlabeled_dataset_cfg is not None:
            raise InputError(
                'train_cfg.unlabeled_dataset holds images for a person to label: set '
                "train_cfg.oracle=dict(type='HumanOracle'), or remove "
                'unlabeled_dataset to simulate on train_dataloader.dataset')
        self.runner = runner
        self._pool_dataset_cfg = train_dataset_cfg

    def pool_dataset_cfg(self) -> dict:
        """The dataset whose samples form the pool."""
        return self._pool_dataset_cfg

    def labeled_dataset_cfg(self) -> dict:
        """The dataset the model trains on, at :meth:`training_indices`."""
        return self._pool_dataset_cfg

    def labeled_dataset_grows(self) -> bool:
        """Whether the labeled dataset itself changes between cycles (it is then
        built again before each cycle)."""
        return False

    def training_indices(self, pool: ActivePool, dataset) -> Sequence[int]:
        """The indices of ``dataset`` (the built labeled dataset) to train on."""
        return pool.dataset_indices()

    def num_labeled(self, pool: ActivePool, dataset) -> int:
        """The number of labeled samples a cycle trains on, as recorded."""
        return pool.num_labeled

    def centers_dataset_cfg(self) -> Optional[dict]:
        """The dataset whose samples are core-set's labeled centers; None: the
        pool's labeled samples."""
        return None

    def pool_layout(self, labeled_dataset, key_field: Optional[str]
                    ) -> PoolLayout:
        """The pool's samples and keys; ``labeled_dataset`` is the built
        :meth:`labeled_dataset_cfg`."""
        return PoolLayout(labeled_dataset, key_field)

    def labeled_keys(self, pool: ActivePool) -> List[str]:
        """Unlabeled pool keys that are labeled already, outside any query (a
        person's own labeled images); asked at every start."""
        return []

    def deliver(self, query: Query) -> Optional[dict]:
        """Label the query. None: every chosen sample is labeled now. Otherwise
        the labels are awaited, and the returned dict (what the oracle needs to
        collect them) is kept as the ``oracle`` part of the open query's record
        in ``al_state.json``. May add ``width`` and ``height`` to the items."""
        return None

    def wait(self, awaiting: dict, allow_partial: bool = False) -> bool:
        """Wait for the labels of the open query ``awaiting``, if this oracle
        waits: True once they are all in (``allow_partial``: once none is
        pending). False right after a delivery stops the run until
        ``--resume``."""
        return False

    def labels_lock(self):
        """A context in which nothing else changes the labels: the loop collects
        and records an open query's labels in it."""
        return contextlib.nullcontext()

    def collect(self, awaiting: dict, allow_partial: bool, logger) -> List[str]:
        """On resume with an open query: make its labels part of the training
        data and return the queried keys that go back to the pool (unlabeled).
        Raises with the fix when labels are missing and not ``allow_partial``."""
        raise RuntimeError(f'{type(self).__name__} labels every query at once, but '
                           'al_state.json has an open query: it was made with '
                           'another oracle; resume with that train_cfg.oracle')

    def awaited_message(self, awaiting: dict, config: Optional[str]) -> str:
        """What to tell the user when the run stops for labels."""
        return ''


class LabelsAwaited:
    """A run that stopped for labels; ``tools/al_train.py`` prints
    :meth:`message` and exits 0."""

    def __init__(self, oracle: BaseOracle, awaiting: dict):
        self.oracle = oracle
        self.awaiting = awaiting

    @property
    def keys(self) -> List[str]:
        return [item['key'] for item in self.awaiting['queried']]

    def message(self, config: Optional[str] = None) -> str:
        return self.oracle.awaited_message(self.awaiting, config or 'CONFIG')
