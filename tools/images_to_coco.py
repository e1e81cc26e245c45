"""Write an image-only COCO file for an unlabeled pool:
``python tools/images_to_coco.py IMAGE_DIR OUT.json``.

Every image under IMAGE_DIR (subfolders included) is listed with its path relative
to IMAGE_DIR and its size after EXIF rotation. Unreadable files are listed on
stderr and left out. Point ``train_cfg.unlabeled_dataset`` at the result, e.g.
``dict(type='CocoDataset', data_root=..., data_prefix=dict(img=IMAGE_DIR),
ann_file=OUT.json, filter_cfg=dict(filter_empty_gt=False), ...)``.
"""
import argparse
import sys

from mmal.oracles.images import images_to_coco
from mmal.utils import dump_json_atomic


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('image_dir', help='folder of images (searched recursively)')
    parser.add_argument('out', help='the COCO json to write')
    args = parser.parse_args(argv)
    try:
        coco, unreadable = images_to_coco(args.image_dir)
    except FileNotFoundError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    for key, reason in unreadable:
        print(f'skipped unreadable image {key}: {reason}', file=sys.stderr)
    if not coco['images']:
        print(f'error: no readable images under {args.image_dir}', file=sys.stderr)
        return 1
    dump_json_atomic(coco, args.out)
    print(f'{args.out}: {len(coco["images"])} images'
          + (f', {len(unreadable)} unreadable skipped' if unreadable else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
