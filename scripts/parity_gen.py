"""Writes what the Rust parity test compares against: for every backbone, random torchvision
weights (fixed seed, BatchNorm statistics randomised too, eval mode) as safetensors and as
`torch.save` state dicts (zip and legacy format), and an input batch with the expected logits and
per-stage outputs.

Usage: parity_gen.py OUT_DIR            write the reference files
       parity_gen.py OUT_DIR --check    load the weights the Rust test exported and compare logits
"""

import sys
from pathlib import Path

import torch
import torchvision
from safetensors.torch import load_file, save_file
from torch import nn

BACKBONES = ["resnet-mini", "resnet18", "resnet34", "resnet50", "vgg11_bn", "vgg16_bn", "alexnet",
             "densenet121", "efficientnet_b0", "mobilenet_v2"]
# Index in `features` after which each of sweep's freezable parts ends (stem, stages, last conv).
PART_ENDS = {"mobilenet_v2": [0, 1, 3, 6, 10, 13, 16, 17, 18], "efficientnet_b0": list(range(9))}


class ResNetMini(nn.Module):
    """sweep's resnet-mini in PyTorch: 3x3 stem, no max-pool, basic blocks, torchvision names."""

    def __init__(self, width=16, stages=3, blocks=1, in_channels=3, classes=10):
        super().__init__()
        block = torchvision.models.resnet.BasicBlock
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        cin = width
        for s in range(stages):
            cout = width << s
            layers = []
            for b in range(blocks):
                stride = 2 if s > 0 and b == 0 else 1
                down = None
                if stride != 1 or cin != cout:
                    down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                layers.append(block(cin, cout, stride, down))
                cin = cout
            setattr(self, f"layer{s + 1}", nn.Sequential(*layers))
        self.stages = stages
        self.fc = nn.Linear(cin, classes)

    def stage_outputs(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        out = [x]
        for s in range(self.stages):
            x = getattr(self, f"layer{s + 1}")(x)
            out.append(x)
        return out

    def forward(self, x):
        x = self.stage_outputs(x)[-1]
        return self.fc(torch.flatten(x.mean((2, 3), keepdim=True), 1))


def build(name, classes=None):
    if name == "resnet-mini":
        return ResNetMini(classes=classes or 10)
    return getattr(torchvision.models, name)(weights=None, num_classes=classes or 1000)


def stage_outputs(name, m, x):
    if name == "resnet-mini":
        return m.stage_outputs(x)
    if name.startswith("resnet"):
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        out = [x]
        for layer in [m.layer1, m.layer2, m.layer3, m.layer4]:
            x = layer(x)
            out.append(x)
        return out
    if name == "densenet121":
        f = m.features
        x = f.pool0(f.relu0(f.norm0(f.conv0(x))))
        a = f.transition1(f.denseblock1(x))
        b = f.transition2(f.denseblock2(a))
        c = f.transition3(f.denseblock3(b))
        return [x, a, b, c, f.norm5(f.denseblock4(c))]
    out = []
    for i, layer in enumerate(m.features):
        x = layer(x)
        if i in PART_ENDS.get(name, []) or (name not in PART_ENDS and isinstance(layer, nn.MaxPool2d)):
            out.append(x)
    return out


def randomise_batch_norm(m, g):
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            n = mod.num_features
            mod.weight.data = torch.rand(n, generator=g) + 0.5
            mod.bias.data = torch.randn(n, generator=g) * 0.1
            mod.running_mean = torch.randn(n, generator=g) * 0.1
            mod.running_var = torch.rand(n, generator=g) + 0.5


def generate(out):
    for name in BACKBONES:
        torch.manual_seed(0)
        g = torch.Generator().manual_seed(1)
        m = build(name)
        randomise_batch_norm(m, g)
        m.eval()
        x = torch.randn(2, 3, 64, 64, generator=g)
        with torch.no_grad():
            logits = m(x)
            stages = stage_outputs(name, m, x)
        state = {k: v.contiguous() for k, v in m.state_dict().items()}
        save_file(state, str(out / f"{name}.safetensors"))
        # PyTorch's own state-dict files, in the zip format and the legacy pickle (which
        # torchvision's older checkpoints, e.g. mobilenet_v2-b0353104.pth, are written in).
        torch.save(m.state_dict(), out / f"{name}.pth")
        torch.save(m.state_dict(), out / f"{name}.legacy.pth", _use_new_zipfile_serialization=False)
        io = {"input": x, "logits": logits}
        io.update({f"stage{i}": s.contiguous() for i, s in enumerate(stages)})
        save_file(io, str(out / f"{name}.io.safetensors"))
        print(f"wrote {name}: {sum(p.numel() for p in m.parameters()) / 1e6:.1f}M parameters, "
              f"{len(stages)} stages, logits {tuple(logits.shape)}")


def sgd_step(out):
    """One SGD step of resnet18 in training mode: starting weights, batch, loss and updated weights."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(2)
    m = build("resnet18", classes=10)
    randomise_batch_norm(m, g)
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(out / "step.before.safetensors"))
    # 64x64 leaves layer4 2x2: batch norm over 1x1 maps of a few images is ill-conditioned.
    x = torch.randn(8, 3, 64, 64, generator=g)
    y = torch.tensor([1, 7, 3, 3, 0, 9, 5, 2])
    m.train()
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    loss = nn.functional.cross_entropy(m(x), y)
    loss.backward()
    opt.step()
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(out / "step.after.safetensors"))
    save_file({"input": x, "labels": y.float(), "loss": loss.detach().reshape(1)}, str(out / "step.io.safetensors"))
    print(f"wrote resnet18 SGD step: loss {loss.item():.6f}")


def check(out):
    """Loads, strictly, the weights sweep exported, and compares PyTorch's logits with sweep's."""
    worst = 0.0
    for name in ["resnet-mini", "resnet18"]:
        path = out / f"{name}.exported.safetensors"
        io = load_file(str(out / f"{name}.exported.io.safetensors"))
        m = build(name, classes=io["logits"].shape[1])
        m.load_state_dict(load_file(str(path)), strict=True)
        m.eval()
        with torch.no_grad():
            logits = m(io["input"])
        err = (logits - io["logits"]).abs().max().item()
        worst = max(worst, err)
        print(f"pytorch loads sweep's {name}: strict load ok, max |logit difference| {err:.2e}")
    if worst > 1e-4:
        sys.exit(f"exported weights disagree with PyTorch: {worst:.2e} > 1e-4")


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    if "--check" in sys.argv:
        check(out)
    else:
        generate(out)
        sgd_step(out)
