import pytest
from mmengine.dataset import DefaultSampler
from mmengine.registry import DATASETS, init_default_scope

from mmal.datasets import LabeledSubsetSampler, PoolLayout
from mmal.testing.cifar_format import UncheckedCIFAR10, write_cifar10


@pytest.fixture(scope='module')
def cifar_roots(tmp_path_factory):
    return [write_cifar10(str(tmp_path_factory.mktemp(f'c{i}')), n, 5, seed=i)
            for i, n in enumerate((10, 15))]


def test_layout_counts_each_sample_once_under_concat_and_repeat(cifar_roots):
    init_default_scope('mmpretrain')
    # The shape of mmdet's VOC07+12: a RepeatDataset over a ConcatDataset.
    dataset = DATASETS.build(dict(
        type='RepeatDataset', times=3,
        dataset=dict(type='ConcatDataset', datasets=[
            dict(type='UncheckedCIFAR10', data_root=root) for root in cifar_roots
        ])))
    layout = PoolLayout(dataset)
    assert len(dataset) == 75 and len(layout) == 25
    assert layout.key_field == 'sample_idx'
    # sample_idx repeats across the parts, so keys are qualified by part.
    assert layout.keys[:2] == ['0/0', '0/1'] and layout.keys[10] == '1/0'
    assert layout.dataset_indices([1]) == [1, 26, 51]
    assert layout.dataset_indices([10]) == [10, 35, 60]
    shown = set(layout.dataset_indices(range(len(layout))))
    assert shown == set(range(75))


def test_layout_rejects_unknown_key_field(cifar_roots):
    with pytest.raises(KeyError, match="key_field='img_id'"):
        PoolLayout(UncheckedCIFAR10(data_root=cifar_roots[0]), key_field='img_id')


@pytest.mark.parametrize('num_labeled', [7, 8])
def test_sampler_gives_every_rank_equal_labeled_shares(num_labeled):
    labeled = list(range(100, 100 + num_labeled))
    shares = []
    for rank in range(2):
        sampler = LabeledSubsetSampler(dataset=None, shuffle=True, seed=3)
        sampler.rank, sampler.world_size = rank, 2
        sampler.set_indices(labeled)
        assert isinstance(sampler, DefaultSampler)
        sampler.set_epoch(4)
        shares.append(list(sampler))
        assert len(shares[-1]) == len(sampler)
    assert len(shares[0]) == len(shares[1]) == 4
    assert set(shares[0]) | set(shares[1]) == set(labeled)
    if num_labeled == 8:
        assert not set(shares[0]) & set(shares[1])
