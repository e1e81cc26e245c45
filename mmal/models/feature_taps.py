import difflib
from contextlib import contextmanager
from typing import List, Optional, Sequence, Tuple

import torch.nn as nn


def parse_tap(tap: str) -> Tuple[str, Optional[int]]:
    """Split ``'module.path'`` or ``'module.path:index'`` into (path, index)."""
    path, sep, index = tap.partition(':')
    if not sep:
        return path, None
    try:
        return path, int(index)
    except ValueError:
        raise ValueError(f'Feature tap {tap!r}: the part after ":" must be an '
                         'integer index into the module\'s tuple output') from None


class FeatureTaps:
    """Forward hooks that collect the outputs of named submodules, in order.

    A tap is a dotted name from ``model.named_modules()``, e.g. ``'backbone.layer1'``;
    ``'backbone:2'`` takes element 2 of a module that returns a tuple or list (such as
    a backbone with several ``out_indices``). The model's code is not changed, and the
    hooks store nothing outside :meth:`capture`. A deep copy of a model that holds
    its taps (EMA, averaged models) gets taps of its own.

    Args:
        model (nn.Module): The model to tap.
        taps (Sequence[str]): Tap names, in the order the consumer expects them.
    """

    def __init__(self, model: nn.Module, taps: Sequence[str]):
        if isinstance(taps, str) or not taps:
            raise ValueError('taps must be a non-empty list of module names, e.g. '
                             "['backbone.layer1', 'backbone.layer2']")
        self.taps = list(taps)
        modules = dict(model.named_modules())
        self._outputs: List = [None] * len(self.taps)
        self._capturing = False
        self._handles = []
        for position, tap in enumerate(self.taps):
            path, index = parse_tap(tap)
            if path not in modules or path == '':
                raise KeyError(self._unknown_tap_message(tap, path, modules))
            self._handles.append(modules[path].register_forward_hook(
                _TapHook(self, position, index)))

    @staticmethod
    def _unknown_tap_message(tap, path, modules) -> str:
        names = [name for name in modules if name]
        close = difflib.get_close_matches(path, names, n=5, cutoff=0.5)
        if not close:
            close = [name for name in names if '.' not in name]
        return (f'Feature tap {tap!r}: the model has no module named {path!r}. '
                f'Closest names: {", ".join(close)}')

    @contextmanager
    def capture(self):
        """Collect tap outputs during the block; read them with :meth:`outputs`."""
        self._outputs = [None] * len(self.taps)
        self._capturing = True
        try:
            yield self
        finally:
            self._capturing = False

    def missing(self) -> List[str]:
        """The taps that have not run since :meth:`capture` began."""
        return [tap for tap, out in zip(self.taps, self._outputs) if out is None]

    def outputs(self) -> list:
        """The captured features in tap order; fails if a tapped module did not run."""
        missing = self.missing()
        if missing:
            raise RuntimeError(f'Feature taps {missing} did not run in the forward '
                               'pass; tap modules that the loss forward uses')
        outputs, self._outputs = self._outputs, [None] * len(self.taps)
        return outputs

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


class _TapHook:
    """The forward hook of one tap. An object, not a closure: ``copy.deepcopy`` of
    the tapped model copies it together with its :class:`FeatureTaps`, so a copy's
    hooks write into the copy's taps."""

    def __init__(self, taps: FeatureTaps, position: int, index: Optional[int]):
        self.taps = taps
        self.position = position
        self.index = index

    def __call__(self, module, inputs, output):
        taps = self.taps
        if not taps._capturing:
            return
        if self.index is not None:
            if not isinstance(output, (tuple, list)):
                raise TypeError(f'Feature tap {taps.taps[self.position]!r} has an '
                                f'index, but the module returns '
                                f'{type(output).__name__}')
            output = output[self.index]
        taps._outputs[self.position] = output
