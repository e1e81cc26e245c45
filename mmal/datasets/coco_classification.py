"""Image classification labels kept in a COCO file, as an mmpretrain dataset.

``tools/images_to_coco.py`` and ``tools/al_import.py`` keep a person's labels in
COCO (one annotation with a ``category_id`` per labeled image, no box), so the same
human-in-the-loop rounds serve classification. Configs load it with
``custom_imports=dict(imports=['mmal', 'mmal.datasets.coco_classification'])``.
"""
import json

from mmengine.fileio import join_path
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS


@DATASETS.register_module()
class CocoClassificationDataset(BaseDataset):
    """One class per image from a COCO file: an image's annotation gives its
    ``gt_label``; an image without one (an unlabeled pool) gets -1.

    Classes are ``metainfo['classes']`` (or ``classes``) if given, matched to the
    COCO categories by name, else the COCO categories in id order.

    Args:
        ann_file (str): The COCO file.
        **kwargs: Other arguments of mmpretrain's ``BaseDataset``
            (``data_root``, ``data_prefix=dict(img_path=...)``, ``pipeline``...).
    """

    def load_data_list(self):
        with open(self.ann_file) as f:
            coco = json.load(f)
        categories = sorted(coco.get('categories') or [], key=lambda c: c['id'])
        if not self.CLASSES:
            self._metainfo['classes'] = tuple(c['name'] for c in categories)
        index = {name: i for i, name in enumerate(self.CLASSES)}
        label_of_category = {}
        for category in categories:
            if category['name'] not in index:
                raise ValueError(f'{self.ann_file}: category {category["name"]!r} is '
                                 f'not one of the classes {list(self.CLASSES)}; add '
                                 'it to metainfo.classes')
            label_of_category[category['id']] = index[category['name']]
        labels = {}
        for ann in coco.get('annotations') or []:
            label = label_of_category[ann['category_id']]
            if labels.setdefault(ann['image_id'], label) != label:
                raise ValueError(f'{self.ann_file}: image {ann["image_id"]} has '
                                 'annotations of two classes; classification needs '
                                 'one per image')
        return [
            dict(img_path=join_path(self.data_prefix['img_path'], image['file_name']),
                 gt_label=labels.get(image['id'], -1), width=image.get('width'),
                 height=image.get('height'))
            for image in coco['images']
        ]
