import copy
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper
from mmengine.registry import MODELS, init_default_scope

from mmal.engine import LossPredictionDetachHook
from mmal.models import LearningLossModel, LossPredictionHead, build_loss_adapter

from mmal.testing.toolbox_models import cifar_batch, resnet18_cifar_cfg

TAPS = ['backbone.layer1', 'backbone.layer2', 'backbone.layer3', 'backbone.layer4']


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    init_default_scope('mmpretrain')


def build_pair(seed=0, loss=None):
    """A plain ResNet-18-CIFAR and its learning-loss wrapper with equal weights."""
    torch.manual_seed(seed)
    cfg = resnet18_cifar_cfg()
    if loss is not None:
        cfg['head']['loss'] = loss
    plain = MODELS.build(cfg)
    plain.init_weights()
    wrapped = LearningLossModel(target=copy.deepcopy(plain), taps=TAPS,
                                head=dict(in_channels=[64, 128, 256, 512]),
                                detach_epoch=2)
    return plain, wrapped


def preprocess(model, batch, training=True):
    data = model.data_preprocessor(copy.deepcopy(batch), training)
    return data['inputs'], data['data_samples']


def test_head_accepts_pooled_and_spatial_features():
    head = LossPredictionHead(in_channels=[4, 6])
    out = head([torch.randn(3, 4, 5, 5), torch.randn(3, 6)])
    assert out.shape == (3, )
    with pytest.raises(ValueError, match='in_channels'):
        head([torch.randn(3, 5, 2, 2), torch.randn(3, 6)])


def test_loss_dict_is_the_targets_own_plus_lpm():
    plain, wrapped = build_pair()
    batch = cifar_batch(6)
    inputs, samples = preprocess(plain, batch)
    expected = plain(inputs, samples, mode='loss')
    losses = wrapped(inputs, samples, mode='loss')
    assert set(losses) == set(expected) | {'loss_lpm'}
    torch.testing.assert_close(losses['loss'], expected['loss'])
    assert losses['loss_lpm'].item() >= 0


def test_predict_equals_unwrapped_model():
    plain, wrapped = build_pair()
    plain.eval()
    wrapped.eval()
    inputs, samples = preprocess(plain, cifar_batch(5), training=False)
    expected = plain(inputs, copy.deepcopy(samples), mode='predict')
    predicted = wrapped(inputs, copy.deepcopy(samples), mode='predict')
    for a, b in zip(expected, predicted):
        torch.testing.assert_close(a.pred_score, b.pred_score)
    torch.testing.assert_close(wrapped(inputs, mode='tensor'),
                               plain(inputs, mode='tensor'))
    assert wrapped.predict_loss(inputs).shape == (5, )


@pytest.mark.parametrize('loss', [
    None,
    dict(type='LabelSmoothLoss', label_smooth_val=0.1, loss_weight=1.0),
])
def test_per_sample_losses_average_to_batch_loss(loss):
    plain, _ = build_pair(loss=loss)
    inputs, samples = preprocess(plain, cifar_batch(7))
    losses, per_sample = build_loss_adapter(plain).loss(plain, inputs, samples)
    assert per_sample.shape == (7, )
    torch.testing.assert_close(per_sample.mean(), losses['loss'])
    # Samples differ: these are not one batch value repeated.
    assert per_sample.std() > 0


def grads_after_lpm_backward(wrapped, inputs, samples):
    wrapped.zero_grad()
    wrapped(inputs, samples, mode='loss')['loss_lpm'].backward()
    backbone = [p.grad for p in wrapped.target.backbone.parameters()]
    head = [p.grad for p in wrapped.loss_predictor.parameters()]
    return backbone, head


def nonzero(grads):
    return any(g is not None and g.abs().sum() > 0 for g in grads)


def test_detach_epoch_stops_ranking_gradient_into_backbone():
    _, wrapped = build_pair()
    inputs, samples = preprocess(wrapped, cifar_batch(8))
    hook = LossPredictionDetachHook()
    runner = SimpleNamespace(model=wrapped, epoch=0,
                             logger=MMLogger.get_current_instance(),
                             train_loop=SimpleNamespace(epoch_in_cycle=1))
    hook.before_train_epoch(runner)
    backbone, head = grads_after_lpm_backward(wrapped, inputs, samples)
    assert not wrapped.detach_features
    assert nonzero(backbone) and nonzero(head)

    runner.train_loop.epoch_in_cycle = 2  # == detach_epoch
    hook.before_train_epoch(runner)
    backbone, head = grads_after_lpm_backward(wrapped, inputs, samples)
    assert wrapped.detach_features
    assert not nonzero(backbone) and nonzero(head)


def test_sgd_steps_lower_both_losses():
    _, wrapped = build_pair(seed=1)
    optim = OptimWrapper(torch.optim.SGD(wrapped.parameters(), lr=0.02,
                                         momentum=0.9))
    batch = cifar_batch(8, seed=3)
    history = []
    for _ in range(25):
        log_vars = wrapped.train_step(copy.deepcopy(batch), optim)
        history.append((log_vars['loss'].item() - log_vars['loss_lpm'].item(),
                        log_vars['loss_lpm'].item()))
    first = [sum(v) / 3 for v in zip(*history[:3])]
    last = [sum(v) / 3 for v in zip(*history[-3:])]
    assert last[0] < first[0], f'target loss did not drop: {first} -> {last}'
    assert last[1] < first[1], f'ranking loss did not drop: {first} -> {last}'


def test_misspelled_tap_lists_close_names():
    with pytest.raises(KeyError) as error:
        LearningLossModel(target=resnet18_cifar_cfg(), taps=['backbone.layr4'],
                          head=dict(in_channels=[512]))
    message = str(error.value)
    assert "no module named 'backbone.layr4'" in message
    assert 'backbone.layer4' in message


def test_loads_a_plain_target_checkpoint():
    plain, wrapped = build_pair(seed=2)
    torch.manual_seed(5)
    other = MODELS.build(resnet18_cifar_cfg())
    other.init_weights()
    wrapped.load_state_dict(other.state_dict(), strict=False)
    for (name, a), b in zip(other.state_dict().items(),
                            wrapped.target.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)


def test_a_deep_copy_taps_its_own_modules():
    # EMA and averaged models deep-copy the wrapper; the copy must read its own
    # features and leave the original's taps alone.
    _, wrapped = build_pair()
    inputs, samples = preprocess(wrapped, cifar_batch(4))
    copied = copy.deepcopy(wrapped)
    losses = copied(inputs, samples, mode='loss')
    assert torch.isfinite(losses['loss_lpm'])
    assert wrapped.taps._outputs == [None] * len(TAPS)
    with torch.no_grad():
        for param in copied.target.parameters():
            param.add_(0.1)
    # The copy's predictions come from the copy's (changed) features.
    assert not torch.allclose(copied.predict_loss(inputs), wrapped.predict_loss(inputs))


def small_vit_cfg() -> dict:
    """mmpretrain's ViT-B/16 config shrunk: 32x32 input, 2 layers of width 64."""
    from mmengine.hub import get_config
    cfg = get_config('mmpretrain::vision_transformer/vit-base-p16_64xb64_in1k.py')
    model = cfg.model.to_dict()
    model['backbone'].update(
        arch=dict(embed_dims=64, num_layers=2, num_heads=2,
                  feedforward_channels=128),
        img_size=32, patch_size=8, init_cfg=None)
    model['head'].update(num_classes=10, in_channels=64, hidden_dim=None)
    model['train_cfg'] = None
    model['data_preprocessor'] = dict(type='ClsDataPreprocessor')
    return model


def test_transformer_block_taps_average_over_tokens():
    torch.manual_seed(0)
    model = LearningLossModel(target=small_vit_cfg(), taps=['backbone.layers.1'],
                              head=dict(in_channels=[64], mid_channels=8))
    inputs, samples = preprocess(model, cifar_batch(3))
    losses = model(inputs, samples, mode='loss')
    assert torch.isfinite(losses['loss_lpm'])
    model.eval()  # no dropout: the two forwards below match
    with model.taps.capture():
        model.target.extract_feat(inputs)
    sequence = model.taps.outputs()[0]
    # 4x4 patches and the class token, 64 features each.
    assert sequence.shape == (3, 17, 64)
    # The module reads the token average.
    head = model.loss_predictor
    expected = head.fc(torch.relu(head.branches[0](sequence.mean(dim=1)))).squeeze(1)
    torch.testing.assert_close(model.predict_loss(inputs), expected)


def test_wrong_in_channels_for_a_token_tap_names_the_shape_and_the_fix():
    with pytest.raises(ValueError) as error:
        LossPredictionHead(in_channels=[512])([torch.randn(2, 17, 64)])
    message = str(error.value)
    assert '(2, 17, 64)' in message and 'in_channels[0] = 64' in message
    assert 'tokens' in message and "'backbone.layers.11'" in message


def test_predict_loss_needs_no_samples_for_backbone_taps():
    plain, wrapped = build_pair()
    wrapped.eval()
    inputs, samples = preprocess(plain, cifar_batch(4), training=False)
    torch.testing.assert_close(wrapped.predict_loss(inputs),
                               wrapped.predict_loss(inputs, samples))
