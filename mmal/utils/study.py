"""Aggregation of active learning runs over seeds: per-cycle mean and spread, the
area under the learning curve, and paired differences to a baseline.

A *curve* is ``{num_labeled: value}`` for one run; a *study* is
``{config: {seed: curve}}``.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .al_curve import curve_metric  # also sets the Agg backend

Curve = Dict[int, float]
Study = Dict[str, Dict[int, Curve]]


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (ddof=1: the spread between seeds, not
    of the seeds seen); the std of a single value is NaN."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return math.nan, math.nan
    std = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
    return float(np.mean(values)), std


def curve_auc(curve: Curve) -> float:
    """Area under the learning curve by the trapezoid rule over ``num_labeled``,
    divided by the span of ``num_labeled``: the curve's average value over the
    labeling budget, in the metric's own units (a flat curve at 90 has AUC 90).
    A one-point curve has that point's value."""
    xs = sorted(curve)
    ys = [curve[x] for x in xs]
    if len(xs) == 1:
        return float(ys[0])
    area = sum((y0 + y1) / 2 * (x1 - x0)
               for x0, x1, y0, y1 in zip(xs, xs[1:], ys, ys[1:]))
    return float(area / (xs[-1] - xs[0]))


def paired_difference(values: Dict[int, float], baseline: Dict[int, float],
                      confidence: float = 0.95) -> Tuple[float, float, float, int]:
    """Mean of ``values[s] - baseline[s]`` over the seeds in both, with a two-sided
    t interval (Student's t, n - 1 degrees of freedom: seeds are few).

    Returns ``(mean, low, high, n)``; the interval is NaN for fewer than 2 pairs.
    """
    from scipy import stats

    seeds = sorted(set(values) & set(baseline))
    diffs = np.array([values[s] - baseline[s] for s in seeds], dtype=np.float64)
    n = len(diffs)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(diffs.mean())
    if n < 2:
        return mean, math.nan, math.nan, n
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) *
                 diffs.std(ddof=1) / math.sqrt(n))
    return mean, mean - half, mean + half, n


def history_curve(history: Sequence[dict], metric: Optional[str] = None) -> Curve:
    """One run's curve from its ``al_state.json`` history."""
    metric = curve_metric(history, metric)
    return {int(r['num_labeled']): float(r['metrics'][metric]) for r in history
            if metric in r.get('metrics', {})}


def by_budget(runs: Dict[int, Curve]) -> Dict[int, Dict[int, float]]:
    """``{seed: curve}`` -> ``{num_labeled: {seed: value}}``, budgets sorted."""
    budgets = sorted({x for curve in runs.values() for x in curve})
    return {x: {seed: curve[x] for seed, curve in sorted(runs.items()) if x in curve}
            for x in budgets}


def complete_aucs(runs: Dict[int, Curve]) -> Dict[int, float]:
    """AUC per seed, only for seeds that reached every budget of the study (a
    shorter curve's AUC covers another range and is not comparable)."""
    budgets = set(by_budget(runs))
    return {seed: curve_auc(curve) for seed, curve in runs.items()
            if set(curve) == budgets}


def study_rows(study: Study) -> List[dict]:
    """One row per config and budget: mean, std (ddof=1), n and per-seed values."""
    rows = []
    for config, runs in study.items():
        for num_labeled, values in by_budget(runs).items():
            mean, std = mean_std(list(values.values()))
            rows.append(dict(config=config, num_labeled=num_labeled, mean=mean,
                             std=std, n=len(values), values=values))
    return rows


def _fmt(value: float, digits: int = 2, sign: bool = False) -> str:
    if value is None or math.isnan(value):
        return '–'
    return f'{value:+.{digits}f}' if sign else f'{value:.{digits}f}'


def write_study_csv(study: Study, path: str) -> None:
    """``config,num_labeled,mean,std,n,seed_<s>...`` (empty where a seed has no
    value for that budget)."""
    import csv

    seeds = sorted({seed for runs in study.values() for seed in runs})
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['config', 'num_labeled', 'mean', 'std', 'n'] +
                        [f'seed_{s}' for s in seeds])
        for row in study_rows(study):
            writer.writerow(
                [row['config'], row['num_labeled'], repr(row['mean']),
                 '' if math.isnan(row['std']) else repr(row['std']), row['n']] +
                [repr(row['values'][s]) if s in row['values'] else '' for s in seeds])


def study_markdown(study: Study, metric: str, baseline: Optional[str] = None,
                   notes: Sequence[str] = ()) -> str:
    """The study as markdown: mean ± std per budget and AUC, then the paired
    difference to ``baseline`` per budget with its 95% t interval over seeds."""
    budgets = sorted({x for runs in study.values() for x in by_budget(runs)})
    header = ('| config | ' + ' | '.join(str(x) for x in budgets) + ' | AUC |\n' +
              '| --- ' * (len(budgets) + 2) + '|\n')
    lines = [f'# Active learning study: {metric}\n',
             f'Mean ± std of `{metric}` over seeds after each cycle, by number of '
             'labeled samples; std is the sample std (ddof=1), `(n)` the seeds '
             'that finished the cycle. AUC: area under the learning curve by the '
             'trapezoid rule, divided by the labeled range (the mean value over '
             'the budget), per seed that finished every cycle, then mean ± std.\n',
             'Every config draws the same initial labeled set for the same seed '
             '(the initial draw depends on the seed only), so differences at the '
             'first budget come from how each method trains the model, not from '
             'what it selected.\n', header.rstrip('\n')]
    for config, runs in study.items():
        per_budget = by_budget(runs)
        cells = []
        for x in budgets:
            values = list(per_budget.get(x, {}).values())
            mean, std = mean_std(values)
            cells.append(f'{_fmt(mean)} ± {_fmt(std)} ({len(values)})'
                         if values else '–')
        auc_mean, auc_std = mean_std(list(complete_aucs(runs).values()))
        cells.append(f'{_fmt(auc_mean)} ± {_fmt(auc_std)}')
        lines.append(f'| {config} | ' + ' | '.join(cells) + ' |')
    if baseline is not None and baseline in study:
        lines += ['', f'## Paired difference to `{baseline}`\n',
                  f'Per seed, config minus `{baseline}` with the same seed; mean '
                  '[95% interval, Student t over seeds, n - 1 degrees of freedom]. '
                  'An interval that excludes 0 is a difference the seeds '
                  'resolve.\n', header.rstrip('\n')]
        base = by_budget(study[baseline])
        base_auc = complete_aucs(study[baseline])
        for config, runs in study.items():
            if config == baseline:
                continue
            per_budget = by_budget(runs)
            pairs = [(per_budget.get(x, {}), base.get(x, {})) for x in budgets]
            pairs.append((complete_aucs(runs), base_auc))
            cells = []
            for values, base_values in pairs:
                mean, low, high, n = paired_difference(values, base_values)
                cells.append(f'{_fmt(mean, sign=True)} [{_fmt(low, sign=True)}, '
                             f'{_fmt(high, sign=True)}] ({n})' if n else '–')
            lines.append(f'| {config} | ' + ' | '.join(cells) + ' |')
    elif baseline is not None:
        lines += ['', f'Baseline `{baseline}` has no runs: no paired differences.']
    if notes:
        lines += ['', '## Notes\n'] + [f'- {note}' for note in notes]
    return '\n'.join(lines) + '\n'


def plot_study(study: Study, metric: str, out_file: str,
               title: Optional[str] = None) -> None:
    """Mean curve per config with a ±std band (none where one seed), one colour
    per config."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2), dpi=120)
    for index, (config, runs) in enumerate(study.items()):
        colour = f'C{index % 10}'
        points = [(x, *mean_std(list(values.values())), len(values))
                  for x, values in by_budget(runs).items()]
        if not points:
            continue
        xs, means, stds, ns = map(np.array, zip(*points))
        ax.plot(xs, means, marker='o', color=colour,
                label=f'{config} (n={ns.min()}' +
                (f'-{ns.max()})' if ns.max() != ns.min() else ')'))
        band = ~np.isnan(stds)
        if band.any():
            ax.fill_between(xs[band], (means - stds)[band], (means + stds)[band],
                            color=colour, alpha=0.18, linewidth=0)
    ax.set_xlabel('labeled samples')
    ax.set_ylabel(f'{metric} (mean ± std over seeds)')
    ax.set_title(title or f'Active learning study: {metric}')
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_file)
    plt.close(fig)
