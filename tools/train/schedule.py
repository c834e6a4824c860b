"""Noise schedule (Stable Diffusion's scaled_linear) and the Euler sampler the engine runs."""
from __future__ import annotations

import math

import numpy as np
import torch

# ---------------------------------------------------------------------------------------------------------------
# Noise schedule (Stable Diffusion's scaled_linear, 1000 steps) in the Euler (sigma) form
# ---------------------------------------------------------------------------------------------------------------
N_TRAIN = 1000
BETA_START, BETA_END = 0.00085, 0.012


def sd_sigmas() -> np.ndarray:
    betas = np.linspace(BETA_START ** 0.5, BETA_END ** 0.5, N_TRAIN, dtype=np.float64) ** 2
    ac = np.cumprod(1.0 - betas)
    return np.sqrt((1 - ac) / ac)


SIGMAS = sd_sigmas()


def sigma_of_t(t: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of the sigma table at (fractional) timesteps, as diffusers' Euler schedulers do."""
    t = t.clamp(0, N_TRAIN - 1)
    lo = torch.floor(t)
    frac = t - lo
    lo_i = lo.long()
    hi_i = torch.clamp(lo_i + 1, max=N_TRAIN - 1)
    return table[lo_i] * (1 - frac) + table[hi_i] * frac

# ---------------------------------------------------------------------------------------------------------------
# Euler sampler: exactly what the engine does with EulerDiscreteScheduler, timestep_spacing "trailing"
# ---------------------------------------------------------------------------------------------------------------
def trailing_timesteps(n: int) -> np.ndarray:
    return (np.round(np.arange(N_TRAIN, 0, -N_TRAIN / n)) - 1).astype(np.float64)


@torch.no_grad()
def euler_sample(eps_unet: torch.nn.Module, cond: torch.Tensor, uncond: torch.Tensor, steps: int, cfg: float,
                 noise: torch.Tensor) -> torch.Tensor:
    ts = trailing_timesteps(steps)
    sig = np.interp(ts, np.arange(N_TRAIN), SIGMAS)
    sig = np.append(sig, 0.0)
    x = noise * float(sig[0])  # init_noise_sigma = sigma_max for trailing spacing
    b = x.shape[0]
    for i, t in enumerate(ts):
        s = float(sig[i])
        x_in = x / math.sqrt(s * s + 1)
        if cfg > 1:
            inp = torch.cat([x_in, x_in])
            tt = torch.full((2 * b,), float(t))
            e = eps_unet(inp, tt, torch.cat([uncond, cond]))
            eu, ec = e[:b], e[b:]
            e = eu + cfg * (ec - eu)
        else:
            e = eps_unet(x_in, torch.full((b,), float(t)), cond)
        x0 = x - s * e
        d = (x - x0) / s
        x = x + d * (float(sig[i + 1]) - s)
    return x
