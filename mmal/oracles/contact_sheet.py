"""``contact_sheet.png``: the queried images with the model's predictions, drawn by
the toolbox's own visualizer (mmdet ``DetLocalVisualizer``, mmpose
``PoseLocalVisualizer``, mmpretrain ``UniversalVisualizer``), in query order with
rank, score and key under each. Imports the task's toolbox, so ``import mmal``
does not import this module."""
from typing import Sequence

import cv2
import mmcv
import numpy as np

from mmal.utils import write_atomic

THUMB = 320
CAPTION = 44
COLUMNS = 4


def _palette(num: int) -> list:
    rng = np.random.default_rng(0)
    return [tuple(int(c) for c in rng.integers(40, 256, 3)) for _ in range(num)]


def _visualizer(task: str, metainfo: dict):
    name = f'mmal_contact_sheet_{task}'
    if task == 'detection':
        from mmdet.visualization import DetLocalVisualizer
        vis = DetLocalVisualizer.get_instance(name)
        vis.dataset_meta = dict(
            classes=metainfo['classes'],
            palette=metainfo.get('palette') or _palette(len(metainfo['classes'])))
    elif task == 'pose':
        from mmpose.visualization import PoseLocalVisualizer
        vis = PoseLocalVisualizer.get_instance(name)
        vis.set_dataset_meta(metainfo)
    else:
        from mmpretrain.visualization import UniversalVisualizer
        vis = UniversalVisualizer.get_instance(name)
        vis.dataset_meta = dict(classes=metainfo['classes'])
    return vis


def _draw(vis, task: str, image: np.ndarray, sample, score_thr: float):
    if task == 'classification':
        return vis.visualize_cls(image, sample, draw_gt=False, draw_pred=True)
    if task == 'pose':
        if isinstance(sample, (list, tuple)):
            from mmpose.structures import merge_data_samples
            sample = merge_data_samples(sample)
        vis.add_datasample('query', image, sample, draw_gt=False, draw_bbox=True,
                           kpt_thr=score_thr)
    else:
        vis.add_datasample('query', image, sample, draw_gt=False,
                           pred_score_thr=score_thr)
    return vis.get_image()


def _thumbnail(image: np.ndarray, caption: Sequence[str]) -> np.ndarray:
    scale = THUMB / max(image.shape[:2])
    image = mmcv.imrescale(image, scale)
    tile = np.full((THUMB + CAPTION, THUMB, 3), 255, np.uint8)
    tile[:image.shape[0], :image.shape[1]] = image
    for line, text in enumerate(caption):
        cv2.putText(tile, text[:42], (4, THUMB + 17 + 20 * line),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return tile


def contact_sheet(task: str, items: Sequence[dict], predictions: Sequence,
                  metainfo: dict, score_thr: float = 0.3) -> np.ndarray:
    """The sheet as an RGB array: one tile per item, in the given order."""
    if not items:
        raise ValueError('No images to draw')
    vis = _visualizer(task, metainfo)
    tiles = []
    for item, sample in zip(items, predictions):
        image = mmcv.imread(item['img_path'], channel_order='rgb')
        score = item.get('score')
        caption = [f'#{item["rank"]}  score '
                   + ('-' if score is None else f'{score:.4g}'), item['key']]
        tiles.append(_thumbnail(_draw(vis, task, image, sample, score_thr),
                                caption))
    columns = min(COLUMNS, len(tiles))
    rows = -(-len(tiles) // columns)
    blank = np.full_like(tiles[0], 255)
    tiles += [blank] * (rows * columns - len(tiles))
    return np.concatenate([np.concatenate(tiles[r * columns:(r + 1) * columns], 1)
                           for r in range(rows)], 0)


def write_contact_sheet(path: str, task: str, items: Sequence[dict],
                        predictions: Sequence, metainfo: dict,
                        score_thr: float = 0.3) -> None:
    sheet = contact_sheet(task, items, predictions, metainfo, score_thr)
    ok, png = cv2.imencode('.png', cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f'Could not encode {path}')
    write_atomic(png.tobytes(), path)
