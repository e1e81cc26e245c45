"""``query.csv``, both ways: one row per chosen image, in query order
(``rank,key,img_path,score,width,height``)."""
import csv
import io
from typing import List, Sequence

from mmal.utils import write_atomic

COLUMNS = ('rank', 'key', 'img_path', 'score', 'width', 'height')


def write(path: str, items: Sequence[dict]) -> None:
    """``items``: the exported query items (see
    :func:`mmal.oracles.human.export_items`); a missing score is left empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\n')
    writer.writerow(COLUMNS)
    for item in items:
        score = item.get('score')
        writer.writerow([item['rank'], item['key'], item['img_path'],
                         '' if score is None else f'{score:.6g}', item['width'],
                         item['height']])
    write_atomic(out.getvalue(), path)


def read(path: str) -> List[dict]:
    """The rows of a ``query.csv`` with their numbers parsed (score None where
    it is empty)."""
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    return [dict(row, rank=int(row['rank']), width=int(row['width']),
                 height=int(row['height']),
                 score=float(row['score']) if row['score'] else None)
            for row in rows]
