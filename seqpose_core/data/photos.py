"""The real photographs this project uses, and what each one may be used for: one place.

Every photo ships inside a wheel (scikit-image's ``skimage.data``, matplotlib's sample data;
the validation photos scikit-learn's and PyWavelets', which only the benchmarks install from
requirements/dev.txt), so nothing is downloaded at run time. Four roles, disjoint by
construction (a test checks it):

1. ``TRAINING_PHOTOS``: textures of the generator's tables, walls and distractors, and the
   negatives of training (a crop of the photo is a frame whose only target is "no object").
   None of them shows one of the six classes.
2. ``VALIDATION_NEGATIVES``: photos with none of the classes that a recipe is chosen on
   (``benchmarks/real_photos.py --photos validation``). No training path reads them, and no
   model before the fourth stage of the embedded one was measured on them.
3. ``EVALUATION_NEGATIVES``: photos with none of the classes, kept for
   ``benchmarks/real_photos.py`` only. No training path reads them.
4. ``EVALUATION_POSITIVES``: photos that show a class (coffee: a cup, a mug; camera: a camera on
   a tripod), evaluation only: training on them as negatives would teach the network that a
   mug is not a mug.

``motorcycle_right`` is the stereo partner of ``motorcycle_left`` and goes unused: training on
one of a pair while evaluating on the other would leak.
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

TRAINING_PHOTOS: tuple[str, ...] = (
    "brick",
    "grass",
    "gravel",
    "coins",
    "page",
    "text",
    "moon",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "cell",
    "horse",
    "logo",
    "microaneurysms",
    "colorwheel",
)
# scikit-learn: a temple among trees, a flower; PyWavelets: an aerial view, people on stairs (grey)
VALIDATION_NEGATIVES: tuple[str, ...] = ("china", "flower", "aero", "ascent")
EVALUATION_NEGATIVES: tuple[str, ...] = ("astronaut", "chelsea", "motorcycle_left", "clock", "grace_hopper")
EVALUATION_POSITIVES: dict[str, str] = {"coffee": "mug", "camera": "camera"}

_MATPLOTLIB = {"grace_hopper": "grace_hopper.jpg"}


def _as_rgb(img: np.ndarray) -> np.ndarray:
    """Any of the wheels' arrays (grey, RGBA, bool, float) -> uint8 (H, W, 3)."""
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    elif img.dtype != np.uint8:
        lo, hi = float(img.min()), float(img.max())
        img = (255 * (img - lo) / max(hi - lo, 1e-12)).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3])


def load_photo(name: str) -> np.ndarray:
    """The photo ``name`` as uint8 RGB (H, W, 3), read-only (one copy is shared: copy it to draw on
    it). Raises ValueError for a name in no role."""
    photo = _load(name)
    photo.flags.writeable = False
    return photo


@cache
def _load(name: str) -> np.ndarray:
    known = (*TRAINING_PHOTOS, *VALIDATION_NEGATIVES, *EVALUATION_NEGATIVES, *EVALUATION_POSITIVES)
    if name not in (*known, "motorcycle_right"):
        raise ValueError(f"photo {name!r}: not one of the project's photos (seqpose_core/data/photos.py)")
    if name in VALIDATION_NEGATIVES:
        return _validation_photo(name)
    if name in _MATPLOTLIB:
        from matplotlib import cbook

        with cbook.get_sample_data(_MATPLOTLIB[name]) as fh:
            buf = np.frombuffer(fh.read(), np.uint8)
        return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    try:
        from skimage import data
    except ImportError as exc:
        raise ImportError("the project's photos come from scikit-image: pip install scikit-image") from exc
    if name.startswith("motorcycle_"):
        left, right, _ = data.stereo_motorcycle()
        return _as_rgb(left if name == "motorcycle_left" else right)
    return _as_rgb(getattr(data, name)())


def _validation_photo(name: str) -> np.ndarray:
    try:
        if name in ("china", "flower"):
            from sklearn.datasets import load_sample_image

            return _as_rgb(load_sample_image(f"{name}.jpg"))
        import pywt.data

        return _as_rgb(getattr(pywt.data, name)())
    except ImportError as exc:
        raise ImportError(
            f"validation photo {name!r} ships in scikit-learn / PyWavelets:"
            " pip install -r requirements/dev.txt"
        ) from exc


def training_photos() -> list[np.ndarray]:
    """Every training-side photo, loaded once (cached)."""
    return [load_photo(n) for n in TRAINING_PHOTOS]
