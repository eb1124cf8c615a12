"""A small convolutional image tower, trained from scratch where no pretrained image encoder can be had.

About 1.2 M parameters at 128 px: it learns modality, body region and gross appearance in minutes on two CPU cores.
It is a fallback for offline use, not a substitute for BiomedCLIP.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn


@dataclass(frozen=True)
class CNNConfig:
    dim: int = 384
    image_size: int = 128
    widths: tuple[int, ...] = (32, 64, 128, 256)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CNNConfig:
        return cls(dim=int(data["dim"]), image_size=int(data["image_size"]), widths=tuple(data["widths"]))


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class SmallCNN(nn.Module):
    """Strided conv blocks, then average- and max-pooled features projected to ``dim``."""

    def __init__(self, config: CNNConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        channels = 3
        for width in config.widths:
            layers += [_block(channels, width, 2), _block(width, width, 1)]
            channels = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(2 * channels, config.dim)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        maps = self.features(pixels)
        pooled = torch.cat([maps.mean(dim=(2, 3)), maps.amax(dim=(2, 3))], dim=1)
        return self.head(pooled)


# Grey-level statistics rather than ImageNet's: most inputs are greyscale radiographs and scans.
_MEAN, _STD = 0.45, 0.27


def to_tensor(image: Image.Image, size: int) -> torch.Tensor:
    """Resize the short side to ``size`` and centre-crop a square, then scale to a normalised CHW tensor."""
    rgb = image.convert("RGB")
    scale = size / min(rgb.size)
    resized = rgb.resize(
        (max(size, round(rgb.width * scale)), max(size, round(rgb.height * scale))), Image.Resampling.BILINEAR
    )
    left, top = (resized.width - size) // 2, (resized.height - size) // 2
    array = np.asarray(resized.crop((left, top, left + size, top + size)), dtype=np.float32) / 255.0
    return torch.from_numpy((array - _MEAN) / _STD).permute(2, 0, 1).contiguous()
