"""The open query of a work dir, as ``tools/al_import.py`` reads it: the one
record in ``al_state.json`` (``awaiting``, written by the loop)."""
import json
import os.path as osp

STATE_FILE = 'al_state.json'


def read_awaiting(work_dir: str) -> dict:
    """The open query of a work dir (``al_state.json``'s ``awaiting``), flat: its
    ``oracle`` fields, ``cycle`` and ``items``. Fails clearly when there is none
    or the state is damaged."""
    path = osp.join(work_dir, STATE_FILE)
    fix = ('rerun tools/al_train.py --resume to export the query again')
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'No query awaits labels in {work_dir} ({path} does not exist): run '
            "tools/al_train.py with train_cfg.oracle=dict(type='HumanOracle') first")
    try:
        with open(path, encoding='utf-8') as f:
            record = json.load(f).get('awaiting')
    except (ValueError, UnicodeDecodeError, AttributeError) as error:
        raise ValueError(f'{path} is damaged ({type(error).__name__}: {error}); '
                         f'{fix}') from None
    if record is None:
        raise FileNotFoundError(
            f'No query awaits labels in {work_dir}: its last query was imported '
            'and taken by the run already. Run tools/al_train.py --resume to go '
            'on; the next query is exported after the next cycle')
    try:
        awaiting = dict(record['oracle'], cycle=record['cycle'],
                        items=list(record['queried']))
        for name in ('work_dir_id', 'query_id', 'task', 'names', 'img_root',
                     'label_root'):
            awaiting[name]  # noqa: B018  (fails on a missing field)
        for item in awaiting['items']:
            item['key'], item['width'], item['height']  # noqa: B018
    except (KeyError, TypeError) as error:
        raise ValueError(f'{path}: the open query lacks {error} ; {fix}') from None
    return awaiting
