"""Who labels what a strategy chose (registry ``mmal.registry.ORACLES``).

Nothing here imports mmdet, mmpose or mmpretrain; ``contact_sheet`` (which uses
their visualizers) is imported only when a contact sheet is drawn.
"""
from .base import BaseOracle, LabelsAwaited
from .human import (HumanOracle, awaiting_path, close_query, query_dir,
                    read_awaiting, write_awaiting)
from .label_import import (ImportReport, LabelImportError, import_labels,
                           init_labels, labeled_path, missing_keys)
from .simulated import SimulatedOracle

__all__ = ['BaseOracle', 'HumanOracle', 'ImportReport', 'LabelImportError',
           'LabelsAwaited', 'SimulatedOracle', 'awaiting_path', 'close_query',
           'import_labels', 'init_labels', 'labeled_path', 'missing_keys',
           'query_dir', 'read_awaiting', 'write_awaiting']
