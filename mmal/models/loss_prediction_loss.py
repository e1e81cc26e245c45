import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import MODELS


@MODELS.register_module()
class LossPredictionLoss(nn.Module):
    """Loss of the loss prediction module.

    ``mode='ranking'`` is the paper's pairwise margin ranking loss: a mini-batch of B
    samples forms pairs (i, B-1-i) for i < B // 2 (the middle sample of an odd batch
    sits out), and each pair costs ``max(0, -s * (pred_i - pred_j) + margin)`` with
    ``s = +1`` if ``target_i > target_j`` else ``-1``; the pairs are averaged.
    ``mode='mse'`` is the paper's ablation: mean squared error to the target losses.
    Target losses are always detached.

    Args:
        margin (float): The margin xi of the ranking loss. Defaults to 1.0.
        loss_weight (float): The weight lambda of this loss. Defaults to 1.0.
        mode (str): ``'ranking'`` or ``'mse'``. Defaults to ``'ranking'``.
    """

    modes = ('ranking', 'mse')

    def __init__(self, margin: float = 1.0, loss_weight: float = 1.0,
                 mode: str = 'ranking'):
        super().__init__()
        if mode not in self.modes:
            raise ValueError(f'LossPredictionLoss mode must be one of {self.modes}, '
                             f'got {mode!r}')
        self.margin = margin
        self.loss_weight = loss_weight
        self.mode = mode

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape or pred.dim() != 1:
            raise ValueError('pred and target must both have shape (B,), got '
                             f'{tuple(pred.shape)} and {tuple(target.shape)}')
        target = target.detach()
        if self.mode == 'mse':
            return self.loss_weight * F.mse_loss(pred, target)
        num_pairs = pred.shape[0] // 2
        if num_pairs == 0:
            # Keeps the graph connected, so DDP sees the head used on every rank.
            return pred.sum() * 0.
        reversed_pred, reversed_target = pred.flip(0), target.flip(0)
        sign = torch.where(target[:num_pairs] > reversed_target[:num_pairs], 1., -1.)
        return self.loss_weight * F.margin_ranking_loss(
            pred[:num_pairs], reversed_pred[:num_pairs], sign, margin=self.margin)
