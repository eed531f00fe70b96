"""Every family's variants (configs and registry entries), importable without torch."""

from edgezoo.zoo.variants import conditional, diffusion, maxim, maxvit, muller, tip  # noqa: F401  (registers them)
