"""PyTorch's twin of examples/bench_conv.rs: the same convolutions, forward, input gradient and
weight gradient timed apart, and the batch norm after each (training forward and backward,
ATen's native_batch_norm and native_batch_norm_backward; then with the ReLU after it, PyTorch's
relu and threshold_backward). Prints `shape op ms` lines. Used by
scripts/bench/conv.sh; not a test."""

import os
import time

import torch
import torch.nn.functional as F
from torch.nn.grad import conv2d_input, conv2d_weight

SHAPES = [(64, 3, 32, 32, 3, 1, 1), (64, 32, 32, 32, 3, 1, 1), (64, 32, 64, 32, 3, 2, 1),
          (64, 64, 64, 16, 3, 1, 1), (64, 32, 64, 32, 1, 2, 1), (64, 64, 128, 16, 3, 2, 1),
          (64, 128, 128, 8, 3, 1, 1), (64, 64, 128, 16, 1, 2, 1), (32, 32, 96, 16, 1, 1, 1),
          (32, 96, 96, 16, 3, 1, 96)]
# The quickstart's (resnet-mini, width 16, 16x16, batch 32), with SHAPES=quickstart.
QUICKSTART = [(32, 1, 16, 16, 3, 1, 1), (32, 16, 16, 16, 3, 1, 1), (32, 16, 32, 16, 3, 2, 1),
              (32, 32, 32, 8, 3, 1, 1), (32, 16, 32, 16, 1, 2, 1), (32, 32, 64, 8, 3, 2, 1),
              (32, 64, 64, 4, 3, 1, 1), (32, 32, 64, 8, 1, 2, 1)]
if os.environ.get("SHAPES") == "quickstart":
    SHAPES = QUICKSTART


def ms(f):
    """Milliseconds per call: the median of 5 rounds, each long enough to time."""
    f()
    t = time.perf_counter()
    f()
    once = time.perf_counter() - t
    reps = max(1, min(200, int(0.05 / max(once, 1e-9)) + 1))
    rounds = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(reps):
            f()
        rounds.append((time.perf_counter() - t) * 1e3 / reps)
    return sorted(rounds)[2]


torch.manual_seed(0)
aten = torch.ops.aten
with torch.no_grad():
    for n, c, co, s, k, stride, groups in SHAPES:
        pad = k // 2
        x, w = torch.randn(n, c, s, s), torch.randn(co, c // groups, k, k)
        os_ = (s + 2 * pad - k) // stride + 1
        g = torch.randn(n, co, os_, os_)
        name = f"{c}->{co}@{s}x{s}/k{k}s{stride}g{groups}"
        conv = dict(stride=stride, padding=pad, groups=groups)
        print(name, "forward", f"{ms(lambda: F.conv2d(x, w, **conv)):.4f}")
        print(name, "input-grad", f"{ms(lambda: conv2d_input(x.shape, w, g, **conv)):.4f}")
        print(name, "weight-grad", f"{ms(lambda: conv2d_weight(x, w.shape, g, **conv)):.4f}")
        gamma, beta = torch.randn(co), torch.randn(co)
        rm, rv = torch.zeros(co), torch.ones(co)
        out, mean, invstd = aten.native_batch_norm(g, gamma, beta, rm, rv, True, 0.1, 1e-5)
        print(name, "bn-forward",
              f"{ms(lambda: aten.native_batch_norm(g, gamma, beta, rm, rv, True, 0.1, 1e-5)):.4f}")
        back = lambda: aten.native_batch_norm_backward(g, g, gamma, rm, rv, mean, invstd, True,
                                                       1e-5, [True, True, True])
        print(name, "bn-backward", f"{ms(back):.4f}")
        fwd = lambda: F.relu(aten.native_batch_norm(g, gamma, beta, rm, rv, True, 0.1, 1e-5)[0])
        print(name, "bn-relu-forward", f"{ms(fwd):.4f}")
        y = F.relu(out)
        back = lambda: aten.native_batch_norm_backward(aten.threshold_backward(g, y, 0), g, gamma,
                                                       rm, rv, mean, invstd, True, 1e-5,
                                                       [True, True, True])
        print(name, "bn-relu-backward", f"{ms(back):.4f}")
