"""Feature extractors for grid observations.

MiniGrid encodes each cell as three small integers (object, colour, state), so observations are
tiny images -- 7x7 for the egocentric view, NxN for the whole maze. SB3's ``NatureCNN`` needs
at least 36x36, hence :class:`GridCNN`: same-size 3x3 convolutions that keep every cell's
position (the maze agent must know where the top-right corner is), then one linear layer.

:class:`ImpalaCNN` is the maze paper's network (Espeholt et al. 2018's IMPALA CNN, as Procgen's
agents use it), scaled to avec's small canvases only by its input: three blocks, each a 3x3
convolution, a 3x3 max-pool of stride 2 and two residual blocks (ReLU, conv, ReLU, conv, plus the
input), channels 16, 32, 32; then ReLU, flatten and a linear layer of 256. Each residual block is
one module whose output is the residual stream after its addition, so
``features_extractor.block2.res1`` is the paper's ``block2.res1.resadd_out``, the layer the maze
paper patches.

Every layer is a named submodule, so :mod:`avec.hooks` can address it by its
``named_modules()`` path, e.g. ``features_extractor.cnn.3`` or ``features_extractor.linear.0``.
"""

from __future__ import annotations

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn


class GridCNN(BaseFeaturesExtractor):
    """Convolutions over a (channels, height, width) grid observation, then a linear layer.

    Input ``(batch, channels, height, width)`` -> features ``(batch, features_dim)``.
    """

    def __init__(
        self,
        observation_space: gym.spaces.Box,
        features_dim: int = 128,
        channels: tuple[int, ...] = (16, 32, 32),
    ) -> None:
        super().__init__(observation_space, features_dim)
        in_channels, height, width = observation_space.shape
        layers: list[nn.Module] = []
        for out_channels in channels:
            layers += [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU()]
            in_channels = out_channels
        self.cnn = nn.Sequential(*layers, nn.Flatten())
        self.linear = nn.Sequential(
            nn.Linear(in_channels * height * width, features_dim), nn.ReLU()
        )

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.linear(self.cnn(observations))


class ResidualBlock(nn.Module):
    """``x + conv1(relu(conv0(relu(x))))``, channels and size kept; the output is the residual
    stream after the addition (the paper's ``resadd_out``). ``(batch, c, h, w)`` in and out."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv1(torch.relu(self.conv0(torch.relu(x))))


class ImpalaBlock(nn.Module):
    """Convolution, 3x3 max-pool of stride 2 (the map shrinks to ``ceil(side / 2)``), two
    residual blocks ``res1`` and ``res2``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.res1 = ResidualBlock(out_channels)
        self.res2 = ResidualBlock(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res2(self.res1(self.pool(self.conv(x))))


class ImpalaCNN(BaseFeaturesExtractor):
    """The IMPALA CNN (see the module doc): blocks ``block1..block3``, then ``linear``.

    Input ``(batch, channels, height, width)`` -> features ``(batch, features_dim)``; a 13x13
    canvas becomes 7x7, 4x4 and 2x2 maps through the three pools.
    """

    def __init__(
        self,
        observation_space: gym.spaces.Box,
        features_dim: int = 256,
        channels: tuple[int, ...] = (16, 32, 32),
    ) -> None:
        super().__init__(observation_space, features_dim)
        in_channels, height, width = observation_space.shape
        for i, out_channels in enumerate(channels, start=1):
            self.add_module(f"block{i}", ImpalaBlock(in_channels, out_channels))
            in_channels = out_channels
            height, width = (height + 1) // 2, (width + 1) // 2
        self.n_blocks = len(channels)
        flat = in_channels * height * width
        self.linear = nn.Sequential(
            nn.ReLU(), nn.Flatten(), nn.Linear(flat, features_dim), nn.ReLU()
        )

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        x = observations
        for i in range(1, self.n_blocks + 1):
            x = getattr(self, f"block{i}")(x)
        return self.linear(x)

    def residual_outputs(self) -> list[str]:
        """Paths (relative to this extractor) of every residual block, in forward order."""
        return [f"block{i}.res{j}" for i in range(1, self.n_blocks + 1) for j in (1, 2)]


__all__ = ["GridCNN", "ImpalaBlock", "ImpalaCNN", "ResidualBlock"]
