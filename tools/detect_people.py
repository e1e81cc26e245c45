"""Person boxes for a top-down pose pool: ``python tools/detect_people.py
DET_CONFIG DET_CHECKPOINT IMAGE_DIR IMAGES_JSON OUT_JSON``.

Runs an mmdet detector (e.g. RTMDet or Faster R-CNN trained on COCO) over the
images of IMAGES_JSON (``tools/images_to_coco.py``'s file; paths relative to
IMAGE_DIR) and writes the people it finds as COCO detection results
(``[{image_id, file_name, category_id: 1, bbox: [x, y, w, h], score}]``), the
``bbox_file`` that mmpose's ``CocoDataset`` reads
(``configs/human/hourglass_folder_lloss.py``). Run it again whenever
``images_to_coco.py`` lists the images anew: boxes point at images by id.
"""
import argparse
import difflib
import json
import os.path as osp
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('det_config', help='mmdet config of the detector')
    parser.add_argument('det_checkpoint', help='its checkpoint (path or URL)')
    parser.add_argument('image_dir', help='the folder IMAGES_JSON is relative to')
    parser.add_argument('images_json', help='image-only COCO file of the pool')
    parser.add_argument('out', help='the COCO detection results to write')
    parser.add_argument('--class-name', default='person',
                        help="the detector's class for people (default: person)")
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='keep boxes scoring at least this (default: 0.3)')
    parser.add_argument('--device', default=None,
                        help='default: cuda:0 if a GPU is visible, else cpu')
    parser.add_argument(
        '--trust-checkpoint', action='append', default=[], metavar='PATH',
        help='load this checkpoint (e.g. DET_CHECKPOINT; repeat for more) with '
        'weights_only=False: only for files you trust, as unpickling a checkpoint '
        'can run any code. Other files load with weights_only=True')
    args = parser.parse_args(argv)

    import torch
    from mmdet.apis import inference_detector, init_detector
    from mmengine.utils import ProgressBar

    from mmal.engine import trust_checkpoint
    from mmal.utils import InputError, dump_json_atomic

    if not osp.isfile(args.images_json):
        print(f'error: {args.images_json} does not exist: list the images with '
              f'python tools/images_to_coco.py {args.image_dir} {args.images_json}',
              file=sys.stderr)
        return 1
    with open(args.images_json) as f:
        images = json.load(f)['images']
    device = args.device or ('cuda:0' if torch.cuda.is_available() else 'cpu')
    for checkpoint in args.trust_checkpoint:
        trust_checkpoint(checkpoint)
    try:
        model = init_detector(args.det_config, args.det_checkpoint, device=device)
    except InputError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    classes = list(model.dataset_meta['classes'])
    if args.class_name not in classes:
        near = difflib.get_close_matches(args.class_name, classes, n=5, cutoff=0.3)
        print(f'error: the detector has no class {args.class_name!r} (near: '
              f'{near or classes[:10]}); pass its class for people with '
              '--class-name', file=sys.stderr)
        return 1
    label = classes.index(args.class_name)
    results, found = [], 0
    progress = ProgressBar(len(images))
    for image in images:
        pred = inference_detector(
            model, osp.join(args.image_dir, image['file_name'])).pred_instances
        keep = (pred.labels == label) & (pred.scores >= args.score_thr)
        for (x1, y1, x2, y2), score in zip(pred.bboxes[keep].tolist(),
                                           pred.scores[keep].tolist()):
            # file_name lets the loop notice boxes of an older image list.
            results.append(dict(image_id=image['id'], file_name=image['file_name'],
                                category_id=1, bbox=[x1, y1, x2 - x1, y2 - y1],
                                score=score))
        found += bool(keep.any())
        progress.update()
    print(flush=True)
    dump_json_atomic(results, args.out)
    print(f'{args.out}: {len(results)} person boxes in {found} of {len(images)} '
          'images; images without one are not in the pool')
    return 0


if __name__ == '__main__':
    sys.exit(main())
