"""PyTorch's twin of examples/bench_step.rs: ../shared/bench/SPEC.md's three workloads on
ResNet8-w32 (sweep's resnet-mini, width 32, 3 stages), printing train, infer, head-only img/s."""

import sys
import time

import torch

sys.path.insert(0, "scripts")
from parity_gen import ResNetMini  # noqa: E402


def timed(warm, n, images, f, sync=lambda: None):
    for _ in range(warm):
        f()
    sync()
    t = time.perf_counter()
    for _ in range(n):
        f()
    sync()
    return images * n / (time.perf_counter() - t)


def main():
    dev = sys.argv[1] if len(sys.argv) > 1 else "cpu"
    sync = torch.cuda.synchronize if dev.startswith("cuda") else (lambda: None)
    torch.manual_seed(0)
    m = ResNetMini(width=32, stages=3, blocks=1, classes=10).to(dev)
    x = torch.randn(64, 3, 32, 32, device=dev)
    y = (torch.arange(64) * 7 % 10).to(dev)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    m.train()

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(m(x), y).backward()
        opt.step()

    train = timed(3, 20, 64, step, sync)

    m.eval()
    xi = torch.randn(256, 3, 32, 32, device=dev)

    def infer():
        with torch.no_grad():
            m(xi)

    inf = timed(2, 10, 256, infer, sync)

    head = torch.optim.Adam(m.fc.parameters(), lr=1e-3)
    backbone = [p for n, p in m.named_parameters() if not n.startswith("fc.")]
    for p in backbone:
        p.requires_grad_(False)

    def head_step():
        head.zero_grad()
        with torch.no_grad():
            f = m.stage_outputs(x)[-1].mean((2, 3))
        torch.nn.functional.cross_entropy(m.fc(f), y).backward()
        head.step()

    head_only = timed(3, 20, 64, head_step, sync)
    print(f"{train:.1f} {inf:.1f} {head_only:.1f}")


if __name__ == "__main__":
    main()
