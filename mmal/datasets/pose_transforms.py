"""Pose data transforms (imports mmpose: pose configs import this module)."""
from mmcv.transforms import BaseTransform
from mmpose.datasets.transforms import PackPoseInputs
from mmpose.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackKeypointIndices(BaseTransform):
    """Makes the next ``PackPoseInputs`` pack ``keypoint_indices``.

    mmpose 1.3's ``AssociativeEmbedding`` codec encodes them for the tag loss but
    declares no label table, so ``PackPoseInputs`` leaves them out and
    ``AssociativeEmbeddingHead.loss`` cannot run. Put this step right before
    ``PackPoseInputs`` in an associative-embedding training pipeline.
    """

    def transform(self, results: dict) -> dict:
        table = results.get('label_mapping_table',
                            PackPoseInputs.label_mapping_table)
        results['label_mapping_table'] = dict(
            table, keypoint_indices='keypoint_indices')
        return results
