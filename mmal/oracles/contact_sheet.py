"""``contact_sheet.png``: the queried images with the model's predictions, drawn by
the toolbox's own visualizer (the task's, see :mod:`mmal.oracles.tasks`), in
query order with rank, score and key under each. Imports OpenCV and mmcv, so
``import mmal`` does not import this module."""
from typing import Optional, Sequence

import cv2
import mmcv
import numpy as np

from mmal.utils import write_atomic
from .tasks import AnnotationTask

THUMB = 320
CAPTION = 44
COLUMNS = 4


def _thumbnail(image: np.ndarray, caption: Sequence[str]) -> np.ndarray:
    scale = THUMB / max(image.shape[:2])
    image = mmcv.imrescale(image, scale)
    tile = np.full((THUMB + CAPTION, THUMB, 3), 255, np.uint8)
    tile[:image.shape[0], :image.shape[1]] = image
    for line, text in enumerate(caption):
        cv2.putText(tile, text[:42], (4, THUMB + 17 + 20 * line),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return tile


def contact_sheet(task: AnnotationTask, items: Sequence[dict],
                  predictions: Optional[Sequence], metainfo: dict,
                  score_thr: float = 0.3) -> np.ndarray:
    """The sheet as an RGB array: one tile per item, in the given order;
    ``predictions`` None (a cold start): the images alone."""
    if not items:
        raise ValueError('No images to draw')
    vis = task.visualizer(metainfo)
    tiles = []
    for item, sample in zip(items, predictions or [None] * len(items)):
        image = mmcv.imread(item['img_path'], channel_order='rgb')
        score = item.get('score')
        caption = [f'#{item["rank"]}  score '
                   + ('-' if score is None else f'{score:.4g}'), item['key']]
        if sample is not None:  # None: no prediction yet (a cold start)
            image = task.draw(vis, image, sample, score_thr)
        tiles.append(_thumbnail(image, caption))
    columns = min(COLUMNS, len(tiles))
    rows = -(-len(tiles) // columns)
    blank = np.full_like(tiles[0], 255)
    tiles += [blank] * (rows * columns - len(tiles))
    return np.concatenate([np.concatenate(tiles[r * columns:(r + 1) * columns], 1)
                           for r in range(rows)], 0)


def write_contact_sheet(path: str, task: AnnotationTask, items: Sequence[dict],
                        predictions: Optional[Sequence], metainfo: dict,
                        score_thr: float = 0.3) -> None:
    sheet = contact_sheet(task, items, predictions, metainfo, score_thr)
    ok, png = cv2.imencode('.png', cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f'Could not encode {path}')
    write_atomic(png.tobytes(), path)
