import numbers
from typing import Optional

from mmal.utils import InputError


def check_budget_types(required: dict, optional: dict) -> None:
    """Fail before any work, naming every one, on ``train_cfg`` budgets that are
    not whole numbers (``--cfg-options train_cfg.query_size=2.5`` or ``=abc``).

    Args:
        required (dict): Settings that must be whole numbers, by name.
        optional (dict): Settings that may also be None.
    """
    settings = dict(required, **{k: v for k, v in optional.items() if v is not None})
    bad = [f'{name}={value!r}' for name, value in settings.items()
           if isinstance(value, bool) or not isinstance(value, numbers.Integral)]
    if bad:
        name = bad[0].partition('=')[0]
        raise InputError(f'Bad active learning settings (train_cfg): '
                         f'{", ".join(bad)} must be whole numbers, e.g. '
                         f'--cfg-options train_cfg.{name}=10')


def check_budgets(pool: int, cycles: int, initial_size: Optional[int],
                  query_size: int, subset_size: int, labeled: int = 0,
                  queries_done: int = 0, pool_grows: bool = False) -> None:
    """Fail before any work, naming every problem, if an active learning run's
    settings cannot be met by a pool of ``pool`` samples.

    Args:
        pool (int): Pool size.
        cycles, initial_size, query_size, subset_size: ``train_cfg`` settings.
        labeled (int): Samples labeled so far (on resume).
        queries_done (int): Queries made so far (on resume).
        pool_grows (bool): A person's folder: the labeled set is given and the
            pool may grow, so only the query settings are checked.
    """
    problems = []
    if cycles < 1 or query_size < 1:
        problems.append('cycles and query_size must be positive')
    if subset_size < query_size:
        problems.append(f'subset_size={subset_size} is smaller than '
                        f'query_size={query_size}: the query must choose from at '
                        'least as many samples as it labels')
    if not pool_grows:
        if initial_size is None or initial_size < 1:
            problems.append('initial_size (random samples labeled before cycle 0) '
                            'must be set and positive')
        elif initial_size > pool:
            problems.append(f'initial_size={initial_size} is larger than the pool '
                            f'({pool} samples)')
        if query_size > pool:
            problems.append(f'query_size={query_size} is larger than the pool '
                            f'({pool} samples)')
        start = labeled or initial_size or 0
        queries_left = cycles - 1 - queries_done
        final = start + queries_left * query_size
        if not problems and final > pool:
            problems.append(
                f'{cycles} cycles label {start} + {queries_left} x query_size = '
                f'{final} samples, more than the pool ({pool}); lower cycles, '
                'initial_size or query_size')
    if problems:
        raise InputError('Bad active learning settings (train_cfg): ' +
                         '; '.join(problems))
