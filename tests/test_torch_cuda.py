"""Do gcnn.torch's modules compute on a GPU what they compute on the CPU?

docs/design.md, §10.1 Modules: every device PyTorch supports works.  These tests run where CUDA
is available and skip elsewhere (the machines the project is developed on have no GPU).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
gt = pytest.importorskip("gcnn.torch")

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.mark.parametrize("factory", ["z2cnn", "p4cnn", "p4mcnn"])
def test_forward_and_gradients_on_the_gpu_equal_the_cpu_s(factory):
    cpu = getattr(gt.models, factory)(channels=3, padding=1, dtype=torch.float64, rng=0)
    gpu = getattr(gt.models, factory)(channels=3, padding=1, dtype=torch.float64, rng=0)
    gpu = gpu.to("cuda")
    x = torch.rand(4, 1, 8, 8, dtype=torch.float64)
    labels = torch.randint(0, 10, (4,))
    for module, device in ((cpu, "cpu"), (gpu, "cuda")):
        loss = torch.nn.functional.cross_entropy(module(x.to(device)), labels.to(device))
        loss.backward()
    for (name, ours), theirs in zip(cpu.named_parameters(), gpu.parameters()):
        torch.testing.assert_close(theirs.grad.cpu(), ours.grad, rtol=1e-9, atol=1e-12, msg=name)
    for name, value in cpu.state_dict().items():
        torch.testing.assert_close(gpu.state_dict()[name].cpu(), value, rtol=1e-9, atol=1e-12)


def test_a_gpu_model_comes_back_to_gcnn():
    module = gt.models.p4cnn(channels=2, padding=1, rng=0).to("cuda").eval()
    net = gt.to_numpy(module)
    x = np.random.default_rng(0).random((2, 1, 8, 8), dtype=np.float32)
    expected = module(torch.from_numpy(x).cuda()).detach().cpu().numpy()
    np.testing.assert_allclose(net(x), expected, rtol=1e-4, atol=1e-5)


def test_the_c_path_refuses_gpu_tensors():
    layer = gt.LiftingConv(1, 2, 3, rng=0, device="cuda", use_gcnn_kernels=True)
    with pytest.raises(TypeError, match="CPU tensors; x is on cuda"):
        layer(torch.zeros(1, 1, 5, 5, device="cuda"))


def test_half_precision_on_the_gpu():
    module = gt.models.p4cnn(channels=2, padding=1, rng=0, dtype=torch.float16, device="cuda")
    out = module(torch.rand(2, 1, 8, 8, dtype=torch.float16, device="cuda"))
    assert out.dtype == torch.float16 and torch.isfinite(out).all()
