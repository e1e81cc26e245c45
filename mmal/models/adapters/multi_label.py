"""What differs for mmpretrain's multi-label heads (``MultiLabelClsHead``,
``CSRAClsHead``, ...): every class is an independent sigmoid."""
import torch


def is_multi_label(head) -> bool:
    """Whether ``head`` scores every class with its own sigmoid."""
    # Imported here: ``import mmal`` loads this module without importing a toolbox.
    from mmpretrain.models.heads import MultiLabelClsHead
    return isinstance(head, MultiLabelClsHead)


def multi_label_entropy(cls_score: torch.Tensor) -> torch.Tensor:
    """Per-sample entropy (B,) of independent per-class sigmoids: the sum over the
    classes of each label's binary entropy (at most ``C log 2``)."""
    probs = cls_score.float().sigmoid()
    return (torch.special.entr(probs) + torch.special.entr(1 - probs)).sum(dim=1)
