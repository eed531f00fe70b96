"""Where each parameter of the upstream Flax MAXIM lives in the zoo's MAXIM.

Upstream (google-research/maxim, ``maxim/models/maxim.py``) names its modules by Flax
scope; the zoo names them by attribute. :func:`module_pairs` lists, for one config,
every (Flax module path, zoo module name) pair, so that a checkpoint's parameters can be
moved across by path. Flax auto-names unnamed submodules ``<Class>_<n>`` in creation
order; the order below follows upstream's ``__call__`` bodies.
"""

from __future__ import annotations

from edgezoo.zoo.variants.maxim import MaximConfig


def _gating_weights(flax: str, zoo: str) -> list[tuple[str, str]]:
    """GetSpatialGatingWeights <-> SpatialGatingWeights."""
    return [
        (f"{flax}/LayerNorm_in", f"{zoo}.norm"), (f"{flax}/in_project", f"{zoo}.expand"),
        (f"{flax}/Dense_0", f"{zoo}.grid_mix.proj"), (f"{flax}/Dense_1", f"{zoo}.block_mix.proj"),
        (f"{flax}/out_project", f"{zoo}.project"),
    ]


def _cross_gating(flax: str, zoo: str, upsample_y: bool) -> list[tuple[str, str]]:
    """CrossGatingBlock <-> CrossGating."""
    pairs = [(f"{flax}/ConvTranspose_0", f"{zoo}.up_y")] if upsample_y else []
    pairs += [
        (f"{flax}/Conv_0", f"{zoo}.in_x"), (f"{flax}/Conv_1", f"{zoo}.in_y"),
        (f"{flax}/LayerNorm_x", f"{zoo}.norm_x"), (f"{flax}/in_project_x", f"{zoo}.dense_x"),
        (f"{flax}/LayerNorm_y", f"{zoo}.norm_y"), (f"{flax}/in_project_y", f"{zoo}.dense_y"),
        (f"{flax}/out_project_x", f"{zoo}.out_x"), (f"{flax}/out_project_y", f"{zoo}.out_y"),
    ]
    pairs += _gating_weights(f"{flax}/SplitHeadMultiAxisGating_x", f"{zoo}.gate_x")
    pairs += _gating_weights(f"{flax}/SplitHeadMultiAxisGating_y", f"{zoo}.gate_y")
    return pairs


def _multi_axis(flax: str, zoo: str) -> list[tuple[str, str]]:
    """ResidualSplitHeadMultiAxisGmlpLayer <-> MultiAxisGatedMLP."""
    pairs = [(f"{flax}/LayerNorm_in", f"{zoo}.norm"), (f"{flax}/in_project", f"{zoo}.expand"),
             (f"{flax}/out_project", f"{zoo}.project")]
    for axis, branch in (("Grid", "grid_branch"), ("Block", "block_branch")):
        layer, unit = f"{flax}/{axis}GmlpLayer", f"{zoo}.{branch}"
        pairs += [
            (f"{layer}/LayerNorm", f"{unit}.norm"), (f"{layer}/in_project", f"{unit}.expand"),
            (f"{layer}/{axis}GatingUnit/intermediate_layernorm", f"{unit}.gate.norm"),
            (f"{layer}/{axis}GatingUnit/Dense_0", f"{unit}.gate.mix.proj"),
            (f"{layer}/out_project", f"{unit}.project"),
        ]
    return pairs


def _channel_attention(flax: str, zoo: str) -> list[tuple[str, str]]:
    return [(f"{flax}/Conv_0", f"{zoo}.down"), (f"{flax}/Conv_1", f"{zoo}.up")]


def _encoder(cfg: MaximConfig, flax: str, zoo: str, downsample: bool, cross_stage: bool) -> list[tuple[str, str]]:
    """UNetEncoderBlock <-> EncoderBlock (groups alternate multi-axis MLP and RCAB)."""
    pairs = [(f"{flax}/Conv_0", f"{zoo}.conv_in")]
    for g in range(cfg.num_groups):
        pairs += _multi_axis(f"{flax}/SplitHeadMultiAxisGmlpLayer_{g}", f"{zoo}.groups.{2 * g}")
        rcab, mine = f"{flax}/channel_attention_block_1{g}", f"{zoo}.groups.{2 * g + 1}"
        pairs += [(f"{rcab}/LayerNorm", f"{mine}.norm"), (f"{rcab}/conv1", f"{mine}.conv1"),
                  (f"{rcab}/conv2", f"{mine}.conv2")]
        pairs += _channel_attention(f"{rcab}/channel_attention", f"{mine}.attention")
    if cross_stage:
        pairs += _cross_gating(f"{flax}/cross_gating_block", f"{zoo}.cross", upsample_y=False)
    if downsample:
        pairs.append((f"{flax}/Conv_1", f"{zoo}.down"))
    return pairs


def _bottleneck(cfg: MaximConfig, flax: str, zoo: str) -> list[tuple[str, str]]:
    pairs = [(f"{flax}/input_proj", f"{zoo}.conv_in")]
    for g in range(cfg.num_groups):
        pairs += _multi_axis(f"{flax}/SplitHeadMultiAxisGmlpLayer_{g}", f"{zoo}.groups.{2 * g}")
        rdcab, mine = f"{flax}/channel_attention_block_1_{g}", f"{zoo}.groups.{2 * g + 1}"
        pairs += [(f"{rdcab}/LayerNorm", f"{mine}.norm"), (f"{rdcab}/channel_mixing/Dense_0", f"{mine}.fc1"),
                  (f"{rdcab}/channel_mixing/Dense_1", f"{mine}.fc2")]
        pairs += _channel_attention(f"{rdcab}/channel_attention", f"{mine}.attention")
    return pairs


def module_pairs(cfg: MaximConfig) -> list[tuple[str, str]]:
    """(Flax module path, zoo module name) for every parameterised module of MAXIM
    ``cfg``; Flax paths are relative to the MAXIM module itself."""
    pairs: list[tuple[str, str]] = []
    resize = 0  # UpSampleRatio_<n> counts across the whole model
    levels = list(reversed(range(cfg.depth)))
    for s in range(cfg.num_stages):
        stage, zoo = f"stage_{s}", f"stages.{s}"
        for i in range(cfg.num_supervision_scales):
            pairs.append((f"{stage}_input_conv_{i}", f"{zoo}.input_convs.{i}"))
            if s > 0:
                pairs += _cross_gating(f"{stage}_input_fuse_sam_{i}", f"{zoo}.sam_fusion.{i}", upsample_y=False)
        for i in range(cfg.depth):
            pairs += _encoder(cfg, f"{stage}_encoder_block_{i}", f"{zoo}.encoders.{i}", True, s > 0)
        for b in range(cfg.num_bottleneck_blocks):
            pairs += _bottleneck(cfg, f"{stage}_global_block_{b}", f"{zoo}.bottleneck.{b}")
        for k, i in enumerate(levels):
            for j in range(cfg.depth):
                pairs.append((f"UpSampleRatio_{resize}/Conv_0", f"{zoo}.skip_signal.{k}.{j}.proj"))
                resize += 1
            pairs += _cross_gating(f"{stage}_cross_gating_block_{i}", f"{zoo}.skip_gating.{k}", upsample_y=True)
        for k, i in enumerate(levels):
            for j in range(cfg.depth):
                pairs.append((f"UpSampleRatio_{resize}/Conv_0", f"{zoo}.decoder_signal.{k}.{j}.proj"))
                resize += 1
            block = f"{stage}_decoder_block_{i}"
            pairs.append((f"{block}/ConvTranspose_0", f"{zoo}.upsamplers.{k}"))
            pairs += _encoder(cfg, f"{block}/UNetEncoderBlock_0", f"{zoo}.decoders.{k}", False, False)
            if i < cfg.num_supervision_scales:
                if s < cfg.num_stages - 1:
                    sam, mine = f"{stage}_supervised_attention_module_{i}", f"{zoo}.heads.{i}"
                    pairs += [(f"{sam}/Conv_0", f"{mine}.features"), (f"{sam}/Conv_1", f"{mine}.to_image"),
                              (f"{sam}/Conv_2", f"{mine}.from_image")]
                else:
                    pairs.append((f"{stage}_output_conv_{i}", f"{zoo}.heads.{i}"))
    return pairs
