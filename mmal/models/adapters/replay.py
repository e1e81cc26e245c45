"""Per-sample replays of a toolbox's loss calls that leave no trace on the model."""
import copy
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.structures import BaseDataElement

# What torch and mmengine keep in a module's __dict__ for themselves: parameters,
# buffers and submodules (handled apart), hooks (the taps' among them), flags.
_MODULE_INTERNALS = frozenset(vars(nn.Module())) | {'_is_init', 'init_cfg',
                                                   '_params_init_info'}


def copy_ground_truth(value):
    """A deep copy of the data elements (data samples, ``InstanceData``) in
    ``value``, also inside lists and tuples; anything else is returned as it is.

    Heads may convert ground truth in place while computing their loss (RTMDet-Ins
    turns ``gt_instances.masks`` into a tensor): each replay gets its own copy.
    """
    if isinstance(value, BaseDataElement):
        return copy.deepcopy(value)
    if isinstance(value, (list, tuple)):
        return type(value)(copy_ground_truth(item) for item in value)
    return value


class _ModuleState:
    """The buffers and plain (non-module, non-parameter) attributes of the modules
    of a model, captured with deep copies that share its modules and parameters."""

    def __init__(self, model: nn.Module):
        self.modules = list(model.modules())
        # References to modules, parameters and buffers stay references.
        self._shared = {id(module): module for module in self.modules}
        self._shared.update({id(p): p for p in model.parameters()})
        self._shared.update({id(b): b for b in model.buffers()})

    def capture(self) -> List[Tuple[Dict[str, Any], Dict[str, Any]]]:
        """Copies of every module's buffers and plain attributes."""
        # One memo for all: attributes that share an object share its copy.
        memo = dict(self._shared)
        return [({name: None if buf is None else buf.detach().clone()
                  for name, buf in module._buffers.items()},
                 {name: self._copy(value, memo)
                  for name, value in vars(module).items()
                  if name not in _MODULE_INTERNALS})
                for module in self.modules]

    def originals(self) -> List[Tuple[Dict[str, Any], Dict[str, Any]]]:
        """The buffer tensors and attribute values themselves (no copies)."""
        return [(dict(module._buffers),
                 {name: value for name, value in vars(module).items()
                  if name not in _MODULE_INTERNALS})
                for module in self.modules]

    def install(self, state, fresh: bool) -> None:
        """Put ``state`` back; ``fresh`` installs copies, so that ``state`` itself
        stays as it is whatever the next calls do."""
        memo = dict(self._shared)
        for module, (buffers, attributes) in zip(self.modules, state):
            for name, buf in buffers.items():
                module._buffers[name] = (buf.clone() if fresh and buf is not None
                                         else buf)
            for name in [name for name in vars(module)
                         if name not in _MODULE_INTERNALS and name not in attributes]:
                delattr(module, name)  # added since the capture
            for name, value in attributes.items():
                module.__dict__[name] = (self._copy(value, memo) if fresh
                                         else value)

    @staticmethod
    def _copy(value, memo: dict):
        try:
            return copy.deepcopy(value, memo)
        except Exception:  # noqa: BLE001 (whatever deepcopy raises)
            # A tensor of an autograd graph (a cached intermediate result) or an
            # object that cannot be copied: a detached copy, else the object.
            if isinstance(value, torch.Tensor):
                return value.detach().clone()
            return value


class IsolatedReplays:
    """Runs a toolbox's loss calls again, per sample, as if the model's own loss
    had been the only call.

    Entered before the model's own loss, it keeps a deep copy of the data samples
    (:attr:`data_samples`, the ground truth as the loss received it) and of the
    state of every module of ``model``: its buffers and plain attributes (running
    statistics kept in a list or a tensor, cached targets, assigner state). Each
    call ``replays(fn, *args, **kwargs)`` first puts that state back, in fresh
    copies, and gives ``fn`` its own copies of the data elements among the
    arguments, so that every replay sees the model as the batch's loss saw it and
    ground truth that no earlier call converted. On exit the model gets back
    exactly the state its own loss left (the very objects), so training goes on as
    without the replays.

    Args:
        model (nn.Module): The model whose loss calls are replayed.
        data_samples (list, optional): The batch's data samples, copied on entry.

    Example:
        >>> with IsolatedReplays(model, data_samples) as replays:
        ...     losses = model.loss(inputs, data_samples)
        ...     alone = replays(head.loss_by_feat, *image_args)
    """

    def __init__(self, model: nn.Module, data_samples: Optional[list] = None):
        self._state = _ModuleState(model)
        self._samples = data_samples
        self._before = self._after = None
        self.data_samples = None

    def __enter__(self) -> 'IsolatedReplays':
        self._before = self._state.capture()
        self.data_samples = copy_ground_truth(self._samples)
        return self

    def __call__(self, fn, *args, **kwargs):
        if self._after is None:
            # What the model's own loss left: given back on exit.
            self._after = self._state.originals()
        self._state.install(self._before, fresh=True)
        return fn(*copy_ground_truth(args),
                  **{key: copy_ground_truth(value) for key, value in kwargs.items()})

    def __exit__(self, *exc_info) -> None:
        if self._after is not None:
            self._state.install(self._after, fresh=False)
