"""torchvision twin of examples/bench_augment.rs: the same heavy set on 1x{16,32}x{16,32}
tensors, image by image as a Dataset's __getitem__ would, then mixup on the batch.
Prints: size, augmented images/s."""
import sys, time
import torch
from torchvision.transforms import v2

torch.manual_seed(0)
BATCH = 64
for size in (16, 32):
    t = v2.Compose([
        v2.RandomHorizontalFlip(),
        v2.RandomCrop(size, padding=2),
        v2.RandomRotation(10),
        v2.RandomErasing(p=0.5),
    ])
    mix = v2.MixUp(alpha=0.2, num_classes=10)
    images = torch.rand(BATCH, 1, size, size)
    labels = torch.randint(0, 10, (BATCH,))
    reps = 200
    start = time.perf_counter()
    for _ in range(reps):
        batch = torch.stack([t(img) for img in images])
        mix(batch, labels)
    print(size, round(reps * BATCH / (time.perf_counter() - start)))
