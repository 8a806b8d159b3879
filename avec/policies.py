"""Feature extractors for grid observations.

MiniGrid encodes each cell as three small integers (object, colour, state), so observations are
tiny images -- 7x7 for the egocentric view, NxN for the whole maze. SB3's ``NatureCNN`` needs
at least 36x36, hence :class:`GridCNN`: same-size 3x3 convolutions that keep every cell's
position (the maze agent must know where the top-right corner is), then one linear layer.

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


__all__ = ["GridCNN"]
