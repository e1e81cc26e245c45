"""Import labels for the awaited active learning query:
``python tools/al_import.py WORK_DIR FILE [--format auto|coco|labelstudio] [--clip]``.

FILE is a COCO json (e.g. the query's ``coco_predictions.json`` after correction)
or a Label Studio JSON export (``exportType=JSON``). Everything is checked against
``WORK_DIR/queries/awaiting.json`` before anything is written; on a problem the
message names the image or annotation, the exit status is 1 and nothing changes.
Images without labels in FILE stay awaited (partial imports are fine). Then resume
with ``python tools/al_train.py CONFIG --work-dir WORK_DIR --resume``.
"""
import argparse
import sys

from mmal.oracles.label_import import FORMATS, LabelImportError, import_labels


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('work_dir', help='the active learning run awaiting labels')
    parser.add_argument('file', help='COCO json or Label Studio JSON export')
    parser.add_argument('--format', choices=FORMATS, default='auto',
                        help='auto: a list of tasks is Label Studio, else COCO')
    parser.add_argument('--clip', action='store_true',
                        help='clip boxes that cross the image border to the image '
                        'instead of refusing them')
    args = parser.parse_args(argv)
    try:
        report = import_labels(args.work_dir, args.file, args.format, args.clip)
    except LabelImportError as error:
        print(f'error: {error}\nnothing was imported', file=sys.stderr)
        return 1
    print(report.summary())
    return 0


if __name__ == '__main__':
    sys.exit(main())
