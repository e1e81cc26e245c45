"""Per-image target losses, entropy and features of mmdet's SSD300 (the
SingleStageDetector adapter), on generated VOC images through mmdet's own
VOCDataset and test pipeline."""
import math

import pytest
import torch
from mmengine.dataset import pseudo_collate

from mmal.models.adapters import record_calls
from mmal.testing.voc_format import DIFFICULT_ONLY, voc_dataset

DIFFICULT_ONLY_INDEX = DIFFICULT_ONLY[1]


@pytest.fixture(scope='module')
def trainval07(voc, lloss_cfg):
    return voc_dataset(voc['devkit'], 'VOC2007', 'trainval', lloss_cfg.test_pipeline)


def batch(model, dataset, indices, training=True):
    data = model.data_preprocessor(
        pseudo_collate([dataset[i] for i in indices]), training)
    return data['inputs'], data['data_samples']


def total(model, losses):
    return model.parse_losses(losses)[0]


def normaliser(head, featmap_sizes, sample) -> int:
    """mmdet's loss normaliser of one image alone: its positive anchors (at least
    one), from mmdet's own target assignment."""
    anchors, valid = head.get_anchors(featmap_sizes, [sample.metainfo],
                                      device='cpu')
    ignored = [sample.ignored_instances] if 'ignored_instances' in sample else None
    return int(head.get_targets(anchors, valid, [sample.gt_instances],
                                [sample.metainfo], ignored)[-1])


def test_per_image_losses_are_each_image_alone_and_sum_to_mmdet_loss(
        lloss_model, trainval07):
    ssd = lloss_model.target.train()
    head = ssd.bbox_head
    inputs, samples = batch(ssd, trainval07, [0, DIFFICULT_ONLY_INDEX, 2])
    with record_calls(head) as calls:
        losses, per_image = lloss_model.adapter.loss(ssd, inputs, samples)
    assert sorted(losses) == ['loss_bbox', 'loss_cls']
    assert all(len(value) == 3 for value in losses.values())
    assert per_image.shape == (3, ) and not per_image.requires_grad
    assert torch.isfinite(per_image).all()

    # Recomputed by mmdet on each image alone: the same value.
    for i in range(3):
        alone = total(ssd, ssd.loss(inputs[i:i + 1], samples[i:i + 1]))
        assert per_image[i].item() == pytest.approx(alone.item(), rel=1e-5)
    # Only a difficult object: no positives, no mined negatives.
    assert len(samples[1].gt_instances) == 0 and per_image[1] == 0
    assert per_image[0] > 0 and per_image[2] > 0

    # Weighted by each image's normaliser, they give mmdet's batch loss.
    featmap_sizes = [score.shape[-2:] for score in calls[0][2][0]]
    normalisers = torch.tensor(
        [normaliser(head, featmap_sizes, sample) for sample in samples])
    assert normalisers[1] == 1 and (normalisers[[0, 2]] > 1).all()
    weighted = (normalisers * per_image).sum() / normalisers.sum()
    assert weighted.item() == pytest.approx(total(ssd, losses).item(), rel=1e-5)
    # mmdet's own per-image terms are over the batch's normaliser, not the image's.
    mmdet_terms = torch.stack([c.sum() + b.sum() for c, b in
                               zip(losses['loss_cls'], losses['loss_bbox'])])
    rescaled = mmdet_terms.detach() * normalisers.sum() / normalisers
    torch.testing.assert_close(rescaled, per_image, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(mmdet_terms.detach(), per_image)


def test_learning_loss_model_on_a_batch_without_positives(lloss_model,
                                                          trainval07):
    lloss_model.train()
    inputs, samples = batch(lloss_model, trainval07,
                            [DIFFICULT_ONLY_INDEX, DIFFICULT_ONLY_INDEX])
    with torch.no_grad():
        losses = lloss_model.loss(inputs, samples)
    assert sorted(losses) == ['loss_bbox', 'loss_cls', 'loss_lpm']
    loss, _ = lloss_model.parse_losses(losses)
    # Equal targets (0 and 0) still give a finite margin loss.
    assert torch.isfinite(loss) and losses['loss_lpm'] > 0


def test_entropy_is_highest_among_the_most_confident_anchors(lloss_model,
                                                              trainval07):
    ssd = lloss_model.target.eval()
    inputs, samples = batch(ssd, trainval07, [0], training=False)
    with torch.no_grad():
        cls_scores = ssd.bbox_head(ssd.extract_feat(inputs))[0]
        probs = torch.cat([s.permute(0, 2, 3, 1).reshape(-1, 21)
                           for s in cls_scores]).softmax(dim=1)
        entropy = lloss_model.adapter.entropy(ssd, inputs, samples)
    ranked = probs[:, :20].max(dim=1).values.argsort(descending=True)
    per_anchor = -(probs * probs.log()).sum(dim=1)
    top = lloss_model.adapter.entropy_topk
    assert entropy.shape == (1, ) and 0 < entropy.item() <= math.log(21)
    assert entropy.item() == pytest.approx(per_anchor[ranked[:top]].max().item(),
                                           rel=1e-5)
