"""Every family's variants (configs and registry entries), importable without torch."""

from edgezoo.zoo.variants import diffusion, maxim, maxvit, muller  # noqa: F401  (registers them)
