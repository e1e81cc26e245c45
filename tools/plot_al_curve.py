"""Draw several active learning runs in one figure:
``python tools/plot_al_curve.py WORK_DIR [WORK_DIR ...] --out al_curve.png``."""
import argparse
import json
import os.path as osp

from mmal.utils import plot_al_curves


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('work_dirs', nargs='+',
                        help='work dirs of runs, each with an al_state.json')
    parser.add_argument('--out', required=True, help='output PNG')
    parser.add_argument('--metric', help='metric to plot (default: the first)')
    parser.add_argument('--title', help='figure title')
    args = parser.parse_args()
    runs = []
    for work_dir in args.work_dirs:
        path = osp.join(work_dir, 'al_state.json')
        if not osp.isfile(path):
            parser.error(f'{path} does not exist: is {work_dir} the work dir of a '
                         'finished cycle?')
        try:
            with open(path, 'rb') as f:
                state = json.load(f)
            history = state['history']
            if not all(isinstance(record, dict) and 'num_labeled' in record
                       and isinstance(record.get('metrics'), dict)
                       for record in history):
                raise ValueError('a history record lacks num_labeled or metrics')
            runs.append((str(state['strategy']), history))
        except (ValueError, KeyError, TypeError, RecursionError) as error:
            # ValueError includes a JSON or UTF-8 decoding error.
            parser.error(f'{path} is not a complete al_state.json '
                         f'({type(error).__name__}: {error}); the run rewrites it '
                         'after every cycle: plot it once the run has written it '
                         'again, or move the damaged file away')
    metric = plot_al_curves(runs, args.out, metric=args.metric, title=args.title)
    print(f'Wrote {args.out} ({metric} of {len(runs)} runs)')
    for label, history in runs:
        points = ', '.join(f"{r['num_labeled']}: {r['metrics'][metric]:.2f}"
                           for r in history)
        print(f'  {label}: {points}')


if __name__ == '__main__':
    main()
