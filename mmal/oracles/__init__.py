"""Who labels what a strategy chose (registry ``mmal.registry.ORACLES``).

Nothing here imports mmdet, mmpose or mmpretrain; ``contact_sheet`` (which uses
their visualizers) is imported only when a contact sheet is drawn.
"""
from .base import BaseOracle, LabelsAwaited, Query
from .human import HumanOracle, query_dir, read_awaiting
from .label_import import (ImportReport, LabelImportError, import_labels,
                           import_lock, init_labels, labeled_path, missing_keys)
from .label_studio_oracle import LabelStudioOracle
from .simulated import SimulatedOracle

__all__ = ['BaseOracle', 'HumanOracle', 'LabelStudioOracle', 'ImportReport', 'LabelImportError',
           'LabelsAwaited', 'Query', 'SimulatedOracle', 'import_labels',
           'import_lock', 'init_labels', 'labeled_path', 'missing_keys',
           'query_dir', 'read_awaiting']
