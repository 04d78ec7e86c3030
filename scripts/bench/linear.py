"""PyTorch's twin of examples/bench_linear.rs: GFLOP/s of nn.Linear at batch 32, forward and
forward + backward, on AlexNet's and VGG's classifier shapes, and a 1024^3 matmul."""

import time

import torch

BATCH = 32
SHAPES = [("alexnet.fc6", 9216, 4096), ("fc7", 4096, 4096), ("vgg.fc6", 25088, 4096)]


def timed(f):
    f()
    t = time.perf_counter()
    f()
    n = max(2, min(50, int(1.0 / (time.perf_counter() - t) + 0.999)))
    t = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - t) / n


def main():
    torch.manual_seed(0)
    for name, cin, cout in SHAPES:
        flops = 2.0 * BATCH * cin * cout
        lin = torch.nn.Linear(cin, cout)
        x = torch.randn(BATCH, cin)
        with torch.no_grad():
            fwd = timed(lambda: lin(x))
        x.requires_grad_(True)

        def train():
            lin.zero_grad(set_to_none=True)
            x.grad = None
            lin(x).sum().backward()

        tr = timed(train)
        print(f"{name} {cin} {cout} {flops / fwd / 1e9:.1f} {3 * flops / tr / 1e9:.1f}", flush=True)
    a = torch.randn(1024, 1024)
    s = timed(lambda: a @ a)
    print(f"matmul-1024 1024 1024 {2 * 1024 ** 3 / s / 1e9:.1f} n/a")


if __name__ == "__main__":
    main()
