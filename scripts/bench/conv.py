"""PyTorch's twin of examples/bench_conv.rs: the quickstart model's 3x3 convolutions, forward,
input gradient and weight gradient timed apart. Prints `name forward_ms input_grad_ms
weight_grad_ms` per shape. Used by scripts/bench/conv.sh; not a test."""

import time

import torch
import torch.nn.functional as F
from torch.nn.grad import conv2d_input, conv2d_weight

SHAPES = [(32, 16, 16, 16, 1), (32, 16, 32, 16, 2), (32, 32, 32, 8, 1), (32, 32, 64, 8, 2),
          (32, 64, 64, 4, 1)]


def ms(f):
    f()
    t = time.perf_counter()
    for _ in range(50):
        f()
    return (time.perf_counter() - t) * 1e3 / 50


torch.manual_seed(0)
with torch.no_grad():
    for n, c, co, s, stride in SHAPES:
        x, w = torch.randn(n, c, s, s), torch.randn(co, c, 3, 3)
        g = torch.randn(n, co, s // stride, s // stride)
        fwd = ms(lambda: F.conv2d(x, w, stride=stride, padding=1))
        xg = ms(lambda: conv2d_input(x.shape, w, g, stride=stride, padding=1))
        wg = ms(lambda: conv2d_weight(x, w.shape, g, stride=stride, padding=1))
        print(f"{c}->{co}@{s}x{s}/s{stride} {fwd:.3f} {xg:.3f} {wg:.3f}")
