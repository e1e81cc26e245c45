from typing import List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402


def curve_metric(history: Sequence[dict], metric: Optional[str] = None) -> str:
    """The metric to plot: ``metric`` if given, else the first one recorded."""
    names = [name for record in history for name in record.get('metrics', {})]
    if metric is not None:
        if metric not in names:
            raise KeyError(f'Metric {metric!r} was not recorded; recorded: '
                           f'{sorted(set(names))}')
        return metric
    if not names:
        raise ValueError('No metrics recorded yet: nothing to plot')
    return names[0]


def plot_al_curves(runs: List[Tuple[str, List[dict]]], out_file: str,
                   metric: Optional[str] = None, title: Optional[str] = None) -> str:
    """Plot metric against the number of labeled samples, one line per run.

    Args:
        runs: ``(label, history)`` pairs; a history is ``al_state.json``'s list.
        out_file: Where to save the figure (PNG).
        metric: Metric name; defaults to the first metric of the first run.

    Returns:
        The metric plotted.
    """
    metric = curve_metric(runs[0][1], metric)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for label, history in runs:
        points = [(r['num_labeled'], r['metrics'][metric]) for r in history
                  if metric in r.get('metrics', {})]
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker='o', label=label)
    ax.set_xlabel('labeled samples')
    ax.set_ylabel(metric)
    ax.set_title(title or f'Active learning: {metric}')
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_file)
    plt.close(fig)
    return metric
