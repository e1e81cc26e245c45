from dataclasses import dataclass
from typing import List, Optional, Sequence, Union


@dataclass
class LabelsAwaited:
    """What :meth:`BaseOracle.label` returns when a person must label first: the
    loop records the awaited ``keys``, stops, and the run exits 0 after printing
    :meth:`message`."""

    cycle: int
    keys: List[str]
    query_dir: str
    work_dir: str

    def message(self, config: Optional[str] = None) -> str:
        config = config or 'CONFIG'
        return (f'{len(self.keys)} images of cycle {self.cycle} await labels; the '
                f'query is in {self.query_dir} (query.csv, coco_predictions.json, '
                'labelstudio_tasks.json + labelstudio_config.xml, '
                'contact_sheet.png).\nLabel them, then:\n'
                f'  python tools/al_import.py {self.work_dir} LABELS.json\n'
                f'  python tools/al_train.py {config} --work-dir {self.work_dir} '
                '--resume')


class BaseOracle:
    """Labels the samples a strategy chose.

    ``label(work_dir, cycle, chosen, predictions=None, metainfo=None, **kwargs)``:

    - ``chosen``: the chosen samples in query order (highest score first), each
      ``dict(key, score, img_path)``; ``score`` may be None (random strategy).
    - ``predictions``: the model's prediction data sample for each chosen sample
      (same order), for pre-annotations; ``metainfo`` the pool dataset's.
    - returns the keys labeled now (a list), or :class:`LabelsAwaited`.
    """

    def label(self, work_dir: str, cycle: int, chosen: Sequence[dict],
              predictions: Optional[Sequence] = None,
              metainfo: Optional[dict] = None,
              **kwargs) -> Union[List[str], LabelsAwaited]:
        raise NotImplementedError
