"""Do the trainable layers keep equivariance, and does equivariance_conditions say so honestly?

Exact equivariance of p4 and p4m stacks with GroupBatchNorm in training and eval mode, and the
verdicts of equivariance_conditions on BatchNorm2d, GroupBatchNorm, Conv2d, Flatten and Linear,
checked against measurement where the layers can run.
"""

from __future__ import annotations

import numpy as np
import pytest

from gcnn import nn
from gcnn._equivariance import check_equivariance, equivariance_conditions
from gcnn.groups import p4, p4m

GROUPS = {"p4": p4, "p4m": p4m}


def random(shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def equivariant_body(group: str) -> nn.Sequential:
    return nn.Sequential(
        nn.LiftingConv(2, 4, 3, group=group, padding=1, dtype=np.float64, rng=0),
        nn.GroupBatchNorm(4, dtype=np.float64),
        nn.ReLU(),
        nn.GroupConv(4, 3, 3, group=group, stride=2, padding=1, dtype=np.float64, rng=1),
        nn.GroupBatchNorm(3, momentum=None, dtype=np.float64),
    )


def invariant_classifier(group: str) -> nn.Sequential:
    return nn.Sequential(
        equivariant_body(group),
        nn.ReLU(),
        nn.GroupPool(),
        nn.BatchNorm2d(3, dtype=np.float64),
        nn.SpatialPool(None, reduce="mean"),
        nn.Flatten(),
        nn.Linear(3, 5, dtype=np.float64, rng=2),
    )


def scramble_batch_norms(model: nn.Sequential) -> None:
    """Non-trivial scales, shifts and running statistics (a few training-mode forwards)."""
    for index, layer in enumerate(nn_layers(model)):
        if isinstance(layer, (nn.BatchNorm2d, nn.GroupBatchNorm)):
            layer.weight[...] = random(layer.weight.shape, seed=index) + 2
            layer.bias[...] = random(layer.bias.shape, seed=index + 50)
    for step in range(3):
        model(random((4, 2, 9, 9), seed=200 + step) * (step + 1) + step)


def nn_layers(model: nn.Sequential):
    for layer in model:
        if isinstance(layer, nn.Sequential):
            yield from nn_layers(layer)
        else:
            yield layer


@pytest.mark.parametrize("group", ["p4", "p4m"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_group_batch_norm_stack_is_exactly_equivariant(group, mode):
    grp = GROUPS[group]
    body = equivariant_body(group)
    scramble_batch_norms(body)
    body.train(mode == "train")
    assert equivariance_conditions(body, 9).exact
    x = random((3, 2, 9, 9), seed=1)
    out = body(x)
    assert out.shape == (3, 3, grp.order, 5, 5)
    for g in grp.elements:
        turned = body(grp.transform_image(x, g))
        np.testing.assert_allclose(turned, grp.transform_features(out, g), rtol=0, atol=1e-12)
    errors = check_equivariance(body, x, group)
    assert errors.max_error < 1e-12 * errors.scale * 100
    # Batch statistics are used in training mode, the running ones in eval mode: the outputs
    # differ, so both branches were exercised.
    assert not np.allclose(body.train(mode != "train")(x), out)


@pytest.mark.parametrize("group", ["p4", "p4m"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_classifier_with_batch_norms_flatten_and_linear_is_exactly_invariant(group, mode):
    grp = GROUPS[group]
    model = invariant_classifier(group)
    scramble_batch_norms(model)
    model.train(mode == "train")
    report = equivariance_conditions(model, 9)
    assert report.exact, str(report)
    assert any("training mode" in note for note in report.notes) == (mode == "train")
    x = random((4, 2, 9, 9), seed=2)
    out = model(x)
    assert out.shape == (4, 5) and np.abs(out).max() > 0.1
    for g in grp.elements:
        np.testing.assert_allclose(model(grp.transform_image(x, g)), out, rtol=0, atol=1e-12)
    assert check_equivariance(model, x, group).output_kind == "invariant"


def test_batch_norm_2d_commutes_with_turns_and_flips_in_both_modes():
    norm = nn.BatchNorm2d(3, dtype=np.float64)
    norm.weight[...] = [1.0, -2.0, 0.5]
    x = random((4, 3, 6, 6), seed=3)
    for mode in (True, False):
        norm.train(mode)
        assert check_equivariance(norm, x, "p4m").max_error < 1e-13
        assert equivariance_conditions([nn.BatchNorm2d(3)], 6).exact


# --------------------------------------------------------------------------- the report


def test_planar_conv2d_with_a_generic_kernel_is_reported():
    conv = nn.Conv2d(1, 2, 3, padding=1, dtype=np.float64, rng=0)
    report = equivariance_conditions([conv, nn.ReLU()], 8)
    assert not report.exact and len(report.problems) == 1
    problem = report.problems[0]
    assert problem.startswith("layer 0 Conv2d(1 -> 2, kernel 3x3, stride 1, padding 1): ")
    assert "not equivariant to turns and flips" in problem and "under p4m" in problem
    assert "g = r1, r2, r3, m r0, m r1, m r2, m r3" in problem
    # Inside a p4 stack it is judged under p4 (the group of the stack).
    stack = [nn.LiftingConv(1, 1, 3, rng=0), nn.GroupPool(), conv]
    assert "under p4 " in equivariance_conditions(stack, 8).problems[0]


def test_conv2d_with_invariant_kernels_keeps_the_laws():
    one_by_one = nn.Conv2d(3, 2, 1, stride=2, rng=0)
    assert equivariance_conditions([one_by_one], 9).exact
    assert not equivariance_conditions([one_by_one], 8).exact  # (8 - 1) % 2 != 0: the grid
    symmetric = nn.Conv2d(1, 1, 3, padding=1, dtype=np.float64, rng=0)
    symmetric.weight[...] = [[[[1.0, 2.0, 1.0], [2.0, 5.0, 2.0], [1.0, 2.0, 1.0]]]]
    assert equivariance_conditions([symmetric], 7).exact
    symmetric.weight[0, 0, 0, 1] = 3.0  # invariant under a mirror (m r0) only
    report = equivariance_conditions([symmetric], 7)
    assert not report.exact and "g = r1, r2, r3, m r1, m r2, m r3" in report.problems[0]
    report = equivariance_conditions(nn.Conv2d(2, 2, (1, 3), rng=0), 7)
    assert any("not square" in problem for problem in report.problems)


def test_conv2d_verdicts_agree_with_measurement():
    x = random((2, 1, 7, 7), seed=4)
    generic = nn.Conv2d(1, 2, 3, padding=1, dtype=np.float64, rng=0)
    assert check_equivariance(generic, x, "p4m").max_error > 1e-3
    symmetric = nn.Conv2d(1, 1, 3, padding=1, dtype=np.float64, rng=0)
    symmetric.weight[...] = [[[[1.0, 2.0, 1.0], [2.0, 5.0, 2.0], [1.0, 2.0, 1.0]]]]
    assert check_equivariance(symmetric, x, "p4m").max_error < 1e-12
    one_by_one = nn.Conv2d(1, 3, 1, stride=2, dtype=np.float64, rng=0)
    assert check_equivariance(one_by_one, x, "p4m").max_error < 1e-12


def test_flatten_keeps_only_invariance():
    lifting = nn.LiftingConv(1, 2, 3, padding=1, dtype=np.float64, rng=0)
    x = random((2, 1, 6, 6), seed=5)

    net = [lifting, nn.SpatialPool(None), nn.Flatten()]  # group axis still there
    report = equivariance_conditions(net, 6)
    assert not report.exact
    expected = (
        "layer 2 Flatten(): flattens group feature maps: L_g permutes their group axis, so the "
        "flat vector is not invariant (pool over the group first: GroupPool)"
    )
    assert report.problems == [expected]
    assert check_equivariance(nn.Sequential(*net), x).max_error > 1e-3

    net = [lifting, nn.GroupPool(), nn.Flatten()]  # 6 x 6 maps
    report = equivariance_conditions(net, 6)
    assert not report.exact and "flattens 6 x 6 maps" in report.problems[0]
    assert check_equivariance(nn.Sequential(*net), x).max_error > 1e-3

    net = [lifting, nn.GroupPool(), nn.SpatialPool(None), nn.Flatten(), nn.Linear(2, 3, rng=0)]
    report = equivariance_conditions(net, 6)
    assert report.exact, str(report)
    assert [step.size_out for step in report.steps] == [(6, 6), (6, 6), (1, 1), None, None]
    assert not any("unknown" in note for note in report.notes)
    assert check_equivariance(nn.Sequential(*net), x).max_error < 1e-6


def test_structure_problems_of_the_new_layers():
    lifting = nn.LiftingConv(1, 2, 3, rng=0)
    pooled = [lifting, nn.GroupPool(), nn.SpatialPool(None)]

    report = equivariance_conditions([*pooled, nn.Linear(2, 3, rng=0)], 5)
    assert report.problems[0].startswith("layer 3 Linear(2 -> 3): expects flat feature vectors")
    report = equivariance_conditions([nn.Linear(5, 3, rng=0)], 5)
    assert "receives the network's input, spatial maps" in report.problems[0]
    report = equivariance_conditions([*pooled, nn.Flatten(), nn.Linear(3, 3, rng=0)], 5)
    assert report.problems == ["layer 4 Linear(3 -> 3): takes 3 features but receives 2"]
    report = equivariance_conditions([*pooled, nn.Flatten(), nn.SpatialPool(2)], 5)
    assert "expects spatial maps but receives flat feature vectors" in report.problems[0]
    report = equivariance_conditions([lifting, nn.BatchNorm2d(2)], 5)
    assert "expects images (N, C, H, W) but receives group feature maps" in report.problems[0]
    report = equivariance_conditions([lifting, nn.GroupBatchNorm(3)], 5)
    assert report.problems == [
        "layer 1 GroupBatchNorm(3, eps=1e-05, momentum=0.1): normalises 3 channels but receives 2"
    ]
    report = equivariance_conditions([nn.GroupPool(), nn.GroupBatchNorm(3)], 5)
    assert "expects group feature maps (N, C, |G|, H, W) but receives images" in report.problems[0]
    report = equivariance_conditions([lifting, nn.Conv2d(2, 2, 1, rng=0)], 5)
    assert "expects images (N, C, H, W) but receives group feature maps" in report.problems[0]
    # Unknown layers stay unknown, gcnn.nn subclasses included.
    report = equivariance_conditions([lifting, type("Custom", (nn.Layer,), {})()], 5)
    assert "is not a gcnn layer" in report.problems[0]


def test_conv2d_lopsided_same_padding_is_reported_and_measured():
    conv = nn.Conv2d(1, 1, 2, padding="same", dtype=np.float64, rng=0)
    conv.weight[...] = 1.0  # invariant kernels: only the padding can break the laws
    assert conv.padding_sides() == (0, 1, 0, 1)
    with pytest.raises(ValueError, match="lopsided"):
        conv.padding_pair()
    report = equivariance_conditions([conv], 6)
    expected = (
        "layer 0 Conv2d(1 -> 1, kernel 2x2, stride 1, padding same): pads lopsidedly, "
        "(top, bottom, left, right) = (0, 1, 0, 1) (padding='same' with an even kernel puts the "
        "extra row and column after the image, as in PyTorch): a turn or flip moves the "
        "sampling grid"
    )
    assert report.problems == [expected]
    assert report.steps[0].size_out == (6, 6)
    x = random((1, 1, 6, 6), seed=6)
    assert check_equivariance(conv, x, "p4").max_error > 1e-3
    odd = nn.Conv2d(1, 1, 3, padding="same", rng=0)
    odd.weight[...] = 1.0
    assert equivariance_conditions([odd], 6).exact
