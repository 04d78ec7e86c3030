"""PyTorch's twin of examples/bench_backbones.rs: forward and training images/s, batch 32."""

import sys
import time

import torch
import torchvision

BATCH = 32
NAMES = ["resnet-mini", "resnet18", "resnet34", "resnet50", "vgg11_bn", "vgg16_bn", "alexnet",
         "densenet121", "efficientnet_b0", "mobilenet_v2"]


def build(name):
    if name == "resnet-mini":
        sys.path.insert(0, "scripts")
        from parity_gen import ResNetMini
        return ResNetMini(classes=10)
    return getattr(torchvision.models, name)(weights=None, num_classes=10)


def steps(first):
    return max(2, min(20, int(2.0 / first + 0.999)))


def main():
    size = int(sys.argv[1])
    torch.manual_seed(0)
    for name in sys.argv[2:] or NAMES:
        if name == "alexnet" and size < 63:
            print(f"{name} {size} n/a n/a")
            continue
        m = build(name)
        x = torch.randn(BATCH, 3, size, size)
        y = torch.arange(BATCH) % 10
        m.eval()

        def infer(n):
            t = time.perf_counter()
            with torch.no_grad():
                for _ in range(n):
                    m(x)
            return (time.perf_counter() - t) / n

        fwd = BATCH / infer(steps(infer(1)))
        m.train()
        opt = torch.optim.SGD(m.parameters(), lr=0.01)

        def train(n):
            t = time.perf_counter()
            for _ in range(n):
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(m(x), y)
                loss.backward()
                opt.step()
            return (time.perf_counter() - t) / n

        tr = BATCH / train(steps(train(1)))
        print(f"{name} {size} {fwd:.1f} {tr:.1f}", flush=True)


if __name__ == "__main__":
    main()
