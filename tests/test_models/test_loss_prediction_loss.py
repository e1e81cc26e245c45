import pytest
import torch

from mmal.models import LossPredictionLoss


def test_ranking_loss_hand_computed():
    # Pairs (0, 3) and (1, 2).
    # (0, 3): target 3 > 1 -> s = +1; pred diff 0.5 - 0.0 = 0.5;
    #         max(0, -0.5 + 1) = 0.5
    # (1, 2): target 1 < 2 -> s = -1; pred diff 1.0 - 2.0 = -1.0;
    #         max(0, -(-1)(-1.0) + 1) = 0
    loss = LossPredictionLoss(margin=1.0, loss_weight=1.0)
    pred = torch.tensor([0.5, 1.0, 2.0, 0.0])
    target = torch.tensor([3.0, 1.0, 2.0, 1.0])
    assert loss(pred, target).item() == pytest.approx((0.5 + 0.0) / 2)


def test_ranking_loss_ties_odd_batch_weight_and_margin():
    # Batch of 5: pairs (0, 4) and (1, 3); sample 2 sits out.
    # (0, 4): tie 2 == 2 -> s = -1; pred diff 0.3 - 0.1 = 0.2;
    #         max(0, 0.2 + 0.5) = 0.7
    # (1, 3): target 5 > 1 -> s = +1; pred diff 0.0 - 1.0 = -1.0;
    #         max(0, 1.0 + 0.5) = 1.5
    # Mean 1.1, times loss_weight 2 -> 2.2. Sample 2 (pred 100) changes nothing.
    loss = LossPredictionLoss(margin=0.5, loss_weight=2.0)
    pred = torch.tensor([0.3, 0.0, 100.0, 1.0, 0.1])
    target = torch.tensor([2.0, 5.0, 9.0, 1.0, 2.0])
    assert loss(pred, target).item() == pytest.approx(2.2)


def test_ranking_loss_batch_of_one_is_zero_with_graph():
    pred = torch.tensor([3.0], requires_grad=True)
    value = LossPredictionLoss()(pred, torch.tensor([1.0]))
    assert value.item() == 0.0
    value.backward()
    assert pred.grad is not None and pred.grad.item() == 0.0


def test_target_losses_are_detached():
    pred = torch.tensor([0.0, 0.0], requires_grad=True)
    target = torch.tensor([2.0, 1.0], requires_grad=True)
    LossPredictionLoss()(pred, target).backward()
    assert target.grad is None
    # s = +1, d(max(0, -(p0 - p1) + 1))/dp0 = -1, averaged over one pair.
    assert pred.grad.tolist() == [-1.0, 1.0]


def test_mse_mode_hand_computed():
    # ((1 - 0)^2 + (2 - 4)^2 + (3 - 3)^2) / 3 = 5 / 3, times weight 0.5.
    loss = LossPredictionLoss(loss_weight=0.5, mode='mse')
    pred = torch.tensor([1.0, 2.0, 3.0])
    target = torch.tensor([0.0, 4.0, 3.0])
    assert loss(pred, target).item() == pytest.approx(5 / 6)
    assert loss(torch.tensor([2.0]), torch.tensor([0.0])).item() == pytest.approx(2.0)


def test_bad_mode_and_shapes():
    with pytest.raises(ValueError, match='mode'):
        LossPredictionLoss(mode='hinge')
    with pytest.raises(ValueError, match='shape'):
        LossPredictionLoss()(torch.zeros(4), torch.zeros(3))
