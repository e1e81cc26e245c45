"""Strategies x seeds in one command, with mean ± std over seeds:

``python tools/al_study.py CONFIG [CONFIG ...] --seeds 0 1 2 --work-dir DIR``

Every (config, seed) is one ``tools/al_train.py`` run in ``DIR/<config name>/seed_<s>``
(seed through ``randomness.seed``), ``--jobs`` at a time with the CPU threads split
between them. A re-run skips finished runs and resumes interrupted ones. Writes
``DIR/study.csv``, ``DIR/study.md`` and ``DIR/study.png``.
"""
import argparse
import concurrent.futures
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
import threading
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
LOG_NAME = 'al_study.log'
TIME_NAME = 'al_study_time.json'  # wall seconds over all invocations, threads


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('configs', nargs='+', help='active learning configs')
    parser.add_argument('--seeds', nargs='+', type=int, required=True)
    parser.add_argument('--work-dir', required=True, help='study folder')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='passed to every run, e.g. train_cfg.cycles=3')
    parser.add_argument('--jobs', type=int, default=1,
                        help='runs at a time; the CPU threads are split between them')
    parser.add_argument('--metric', help='metric to aggregate (default: '
                        'train_cfg.curve_metric, else the first recorded)')
    parser.add_argument('--baseline', help='config name for the paired differences '
                        'in study.md, e.g. resnet18_digits_random')
    parser.add_argument('--title', help='plot title')
    args = parser.parse_args(argv)
    if any(opt.split('=', 1)[0] == 'randomness.seed' for opt in args.cfg_options):
        parser.error('the seed of each run comes from --seeds, not --cfg-options')
    if args.jobs < 1:
        parser.error('--jobs must be at least 1')
    names = [config_name(c) for c in args.configs]
    if len(set(names)) != len(names):
        parser.error(f'configs need distinct file names (their run folders): {names}')
    if args.baseline is not None and args.baseline not in names:
        parser.error(f'--baseline {args.baseline} is none of the configs {names}')
    return args


def config_name(config: str) -> str:
    return osp.splitext(osp.basename(config))[0]


def load_train_cfg(config: str, cfg_options) -> dict:
    """The run's ``train_cfg`` as al_train.py will see it."""
    from mmengine.config import Config, DictAction

    cfg = Config.fromfile(config)
    if cfg_options:
        options = argparse.ArgumentParser()
        options.add_argument('--o', nargs='+', action=DictAction)
        cfg.merge_from_dict(options.parse_args(['--o', *cfg_options]).o)
    return cfg.train_cfg


def num_cycles(train_cfg) -> int:
    """``train_cfg.cycles``, or the loop's default where the config leaves it."""
    if train_cfg.get('cycles') is not None:
        return train_cfg['cycles']
    import inspect

    from mmal.engine import ActiveLearningLoop
    return inspect.signature(ActiveLearningLoop).parameters['cycles'].default


def read_history(work_dir: str):
    path = osp.join(work_dir, 'al_state.json')
    if not osp.isfile(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)['history']
    except (ValueError, KeyError, TypeError):
        return None  # al_train.py reports a corrupted state with the fix


class Run:

    def __init__(self, config, name, seed, study_dir, cycles):
        self.config, self.name, self.seed, self.cycles = config, name, seed, cycles
        self.work_dir = osp.join(study_dir, name, f'seed_{seed}')
        self.log = osp.join(self.work_dir, LOG_NAME)

    @property
    def label(self) -> str:
        return f'{self.name} seed {self.seed}'

    def cycles_done(self) -> int:
        history = read_history(self.work_dir)
        return len(history) if history else 0

    def command(self, cfg_options):
        cmd = [sys.executable, osp.join(REPO, 'tools', 'al_train.py'), self.config,
               '--work-dir', self.work_dir,
               '--cfg-options', f'randomness.seed={self.seed}', *cfg_options]
        if osp.isfile(osp.join(self.work_dir, 'al_state.json')):
            cmd.append('--resume')
        return cmd

    def execute(self, cfg_options, threads: int):
        """Run al_train.py; returns its exit code and the seconds it took."""
        os.makedirs(self.work_dir, exist_ok=True)
        env = dict(os.environ, OMP_NUM_THREADS=str(threads),
                   MKL_NUM_THREADS=str(threads))
        cmd = self.command(cfg_options)
        start = time.time()
        with open(self.log, 'a') as log:
            log.write(f'$ {shlex.join(cmd)}\n')
            log.flush()
            code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=env).returncode
        elapsed = time.time() - start
        with open(osp.join(self.work_dir, TIME_NAME), 'w') as f:
            json.dump(dict(wall_s=self.wall_time()[0] + elapsed, threads=threads), f)
        return code, elapsed

    def wall_time(self):
        """(seconds over all invocations, threads of the last), or (0, None)."""
        try:
            with open(osp.join(self.work_dir, TIME_NAME)) as f:
                timing = json.load(f)
            return timing['wall_s'], timing['threads']
        except (OSError, ValueError, KeyError):
            return 0.0, None


def last_line(path: str) -> str:
    try:
        with open(path, errors='replace') as f:
            lines = [line.strip() for line in f if line.strip()]
        return lines[-1][:200] if lines else ''
    except OSError:
        return ''


def run_all(runs, cfg_options, jobs: int):
    """Run what is not finished, ``jobs`` at a time; returns the failed runs."""
    todo = [run for run in runs if run.cycles_done() < run.cycles]
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else (
        os.cpu_count() or 1)
    jobs = min(jobs, max(len(todo), 1))
    threads = max(1, cpus // jobs)
    resumed = sum(1 for run in todo if run.cycles_done() > 0)
    print(f'{len(runs)} runs: {len(runs) - len(todo)} finished already, '
          f'{len(todo)} to run ({resumed} resumed); {jobs} at a time x {threads} '
          f'threads', flush=True)
    lock = threading.Lock()
    finished, failed = [0], []

    def work(run):
        code, elapsed = run.execute(cfg_options, threads)
        minutes, seconds = divmod(int(elapsed), 60)
        with lock:
            finished[0] += 1
            head = f'[{finished[0]}/{len(todo)}] {run.label}'
            if code == 0 and run.cycles_done() >= run.cycles:
                print(f'{head}: done in {minutes}m{seconds:02d}s', flush=True)
            else:
                failed.append(run)
                print(f'{head}: FAILED (exit {code}) after {minutes}m{seconds:02d}s, '
                      f'{run.cycles_done()}/{run.cycles} cycles; log: {run.log}\n'
                      f'    {last_line(run.log)}', flush=True)

    # Seed-major order (seed 0 of every config first): an interrupted study still
    # has complete pairs to compare.
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        list(pool.map(work, todo))
    return failed


def collect(runs, metric):
    """``{config: {seed: curve}}`` from every run's al_state.json, and the metric."""
    from mmal.utils import curve_metric, history_curve

    study = {}
    for run in runs:
        study.setdefault(run.name, {})
        history = read_history(run.work_dir)
        if not history:
            continue
        if metric is None:
            metric = curve_metric(history)
        study[run.name][run.seed] = history_curve(history, metric)
    return study, metric


def run_times(runs) -> str:
    """Mean wall time of one run per config, as measured by this tool."""
    parts = []
    for name in dict.fromkeys(run.name for run in runs):
        times = [run.wall_time() for run in runs if run.name == name]
        times = [(s, t) for s, t in times if t is not None]
        if times:
            threads = sorted({t for _, t in times})
            parts.append(f'{name} {sum(s for s, _ in times) / len(times) / 60:.1f} min '
                         f'({len(times)} runs, threads {"/".join(map(str, threads))})')
    return 'Wall time per run, mean over seeds: ' + ('; '.join(parts) or 'none')


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    names = [config_name(c) for c in args.configs]
    train_cfgs = [load_train_cfg(c, args.cfg_options) for c in args.configs]
    runs = [Run(config, name, seed, args.work_dir, num_cycles(train_cfg))
            for seed in args.seeds
            for config, name, train_cfg in zip(args.configs, names, train_cfgs)]
    failed = run_all(runs, args.cfg_options, args.jobs)

    from mmal.utils import plot_study, study_markdown, write_study_csv

    metric = args.metric or train_cfgs[0].get('curve_metric')
    study, metric = collect(runs, metric)
    if metric is None:
        print('No run finished a cycle: nothing to aggregate', file=sys.stderr)
        return 1
    minutes = (time.time() - start) / 60
    command = shlex.join(['python', 'tools/al_study.py', *(argv or sys.argv[1:])])
    notes = [f'Command: `{command}`',
             f'This invocation took {minutes:.1f} min of wall time.', run_times(runs)]
    notes += [f'`{run.label}` failed; log: `{run.log}`' for run in failed]
    out = {ext: osp.join(args.work_dir, f'study.{ext}') for ext in ('csv', 'md', 'png')}
    write_study_csv(study, out['csv'])
    with open(out['md'], 'w') as f:
        f.write(study_markdown(study, metric, args.baseline, notes))
    plot_study(study, metric, out['png'], args.title)
    print(f'Wrote {out["csv"]}, {out["md"]}, {out["png"]} ({metric}); '
          f'{len(failed)} failed runs', flush=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
