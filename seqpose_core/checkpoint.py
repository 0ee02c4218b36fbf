"""Model checkpoints: weights as safetensors, the resolved config as YAML beside them.

``name.safetensors`` + ``name.yaml``. Loading checks the config against an expected one
(when given) and names every field that differs, and names missing or unexpected weights.
The weights file's own metadata names the model's classes too (``classes``: "bottle,...,mug"),
so a config that lost its way to other weights is caught.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from seqpose_core.model.config import ModelConfig
from seqpose_core.model.seqpose import SeqPose


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or does not fit; the message names the file."""


def config_path(weights: Path) -> Path:
    return weights.with_suffix(".yaml")


def save_model(model: SeqPose, path: str | Path, meta: dict | None = None) -> Path:
    """Write ``path`` (.safetensors) and its config (.yaml). Writes to temporary names, then renames."""
    path = Path(path).with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    tmp_w, tmp_c = path.with_suffix(".safetensors.tmp"), path.with_suffix(".yaml.tmp")
    tags = {k: str(v) for k, v in (meta or {}).items()} | {"classes": _classes_tag(model.cfg)}
    save_file(state, str(tmp_w), metadata=tags)
    tmp_c.write_text(yaml.safe_dump({"model": model.cfg.to_dict(), "meta": meta or {}}, sort_keys=False))
    tmp_w.replace(path)
    tmp_c.replace(config_path(path))
    return path


def _read_doc(path: str | Path) -> tuple[Path, dict]:
    """The YAML beside a checkpoint's weights: its path and contents (errors name the file)."""
    cpath = config_path(Path(path).with_suffix(".safetensors"))
    if not cpath.is_file():
        raise CheckpointError(f"{cpath}: no such file (a checkpoint's config must lie beside its weights)")
    try:
        doc = yaml.safe_load(cpath.read_text())
    except yaml.YAMLError as exc:
        raise CheckpointError(f"{cpath}: not a seqpose model config ({exc})") from exc
    return cpath, doc


def read_config(path: str | Path) -> ModelConfig:
    cpath, doc = _read_doc(path)
    try:
        return ModelConfig.from_dict(doc["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{cpath}: not a seqpose model config ({exc})") from exc


def read_meta(path: str | Path) -> dict:
    """The ``meta`` the checkpoint was saved with (e.g. step, train_seconds); {} when it has none."""
    cpath, doc = _read_doc(path)
    if not isinstance(doc, dict):
        raise CheckpointError(f"{cpath}: not a seqpose model config (not a mapping)")
    return doc.get("meta") or {}


def config_differences(found: ModelConfig, expected: ModelConfig) -> list[str]:
    """Fields that shape the network and differ (weights paths and notes are ignored)."""
    ignore = {"encoder_weights", "decoder_weights", "extra", "freeze_encoder", "dropout"}
    a, b = found.to_dict(), expected.to_dict()
    return [f"{k}: checkpoint {a[k]!r} vs expected {b[k]!r}" for k in a if k not in ignore and a[k] != b[k]]


def _classes_tag(cfg: ModelConfig) -> str:
    return ",".join(cfg.classes.names[1:])


def check_weights_file(path: Path) -> dict[str, str]:
    """The weights file exists and its safetensors header reads (else the error names it);
    returns its metadata."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path}: corrupt or unreadable safetensors file ({exc})") from exc


def load_model(path: str | Path, expected: ModelConfig | None = None) -> SeqPose:
    """Build the network from the config beside ``path`` and load its weights exactly. The
    weights file is checked first, so a missing or corrupt one is named before its config."""
    path = Path(path).with_suffix(".safetensors")
    tags = check_weights_file(path)
    cfg = read_config(path)
    if "classes" in tags and tags["classes"] != _classes_tag(cfg):
        raise CheckpointError(f"{path}: weights of classes {tags['classes']}, config of {_classes_tag(cfg)}")
    if expected is not None:
        diff = config_differences(cfg, expected)
        if diff:
            raise CheckpointError(f"{path}: config does not match: " + "; ".join(diff))
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path}: corrupt or unreadable safetensors file ({exc})") from exc
    cfg.encoder_weights = cfg.decoder_weights = ""  # the checkpoint holds every weight
    model = SeqPose(cfg)
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not fit: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    bad = [k for k in own if own[k].shape != state[k].shape]
    if bad:
        raise CheckpointError(f"{path}: shape mismatch for {bad[:5]}")
    model.load_state_dict(state)
    return model
