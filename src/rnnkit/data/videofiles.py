"""The user's own clips: ``DIR/<class>/<video file>`` or ``DIR/<class>/<folder of frame images>``.

Each sub-folder of ``DIR`` is a class (sorted by name); each entry in it is one clip — a video file
decoded with imageio's PyAV plugin (mp4, avi, mov, mkv, webm, …; GIFs through Pillow) or a folder of
frame images read with Pillow in natural order (``frame2.png`` before ``frame10.png``). Every clip is
resampled to ``frames`` evenly spaced frames (repeating frames of shorter clips), each frame resized
(whole, without cropping) to ``size``×``size`` and converted to grayscale or RGB.

Example::

    from rnnkit.data.videofiles import load_clip_folder
    clips = load_clip_folder("my_clips", frames=16, size=32)   # ClipSet, labels index clips.class_names
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import numpy as np
from PIL import Image
from tqdm import tqdm

from .video import ClipSet

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".gif"})
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _visible(folder: str) -> list[str]:
    return sorted((e for e in os.listdir(folder) if not e.startswith(".")), key=_natural_key)


def _to_frame(image: Image.Image | np.ndarray, size: int, channels: int) -> np.ndarray:
    """One frame → uint8 (C, size, size)."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    image = image.convert("L" if channels == 1 else "RGB").resize((size, size), Image.Resampling.BILINEAR)
    arr = np.asarray(image, dtype=np.uint8)
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def _video_frames(path: str) -> Iterator[np.ndarray]:
    import imageio.v3 as iio

    plugin = "pillow" if path.lower().endswith(".gif") else "pyav"
    try:
        yield from iio.imiter(path, plugin=plugin)
    except Exception as err:  # decoder errors come in many types; name the file
        raise ValueError(f"could not decode video {path!r}: {err}") from err


def _image_frames(folder: str) -> Iterator[Image.Image]:
    names = [e for e in _visible(folder) if os.path.splitext(e)[1].lower() in IMAGE_EXTENSIONS]
    if not names:
        raise ValueError(
            f"frame folder {folder!r} holds no images (expected one of {sorted(IMAGE_EXTENSIONS)})"
        )
    for name in names:
        path = os.path.join(folder, name)
        try:
            with Image.open(path) as im:
                im.load()
                frame = im.copy()
        except (OSError, SyntaxError, ValueError) as err:  # PIL: unidentified, truncated, corrupt
            reason = str(err).strip() or type(err).__name__
            raise ValueError(
                f"frame image {path!r} cannot be read ({reason}); expected a complete image file "
                f"({', '.join(sorted(IMAGE_EXTENSIONS))})"
            ) from None
        yield frame


def resample_indices(length: int, frames: int) -> np.ndarray:
    """``frames`` evenly spaced indices into a clip of ``length`` frames (repeats when it is shorter)."""
    if length < 1:
        raise ValueError(f"a clip needs at least one frame, got length {length}")
    return np.rint(np.linspace(0, length - 1, frames)).astype(np.int64)


def load_clip(path: str, frames: int = 16, size: int = 32, channels: int = 1) -> np.ndarray:
    """One clip (a video file or a folder of frame images) → uint8 (frames, C, size, size)."""
    if os.path.isdir(path):
        source: Iterator = _image_frames(path)
    elif os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS:
        source = _video_frames(path)
    else:
        raise ValueError(
            f"clip {path!r} is neither a folder of frames nor a video file "
            f"(expected one of {sorted(VIDEO_EXTENSIONS)})"
        )
    decoded = [_to_frame(f, size, channels) for f in source]  # resized as decoded: memory stays small
    if not decoded:
        raise ValueError(f"clip {path!r} has no frames")
    return np.stack([decoded[i] for i in resample_indices(len(decoded), frames)])


def load_clip_folder(
    root: str, frames: int = 16, size: int = 32, channels: int = 1, *, progress: bool = True
) -> ClipSet:
    """Every clip under ``root/<class>/`` as a :class:`ClipSet` (labels index the sorted class names)."""
    if os.path.isfile(root):
        raise ValueError(f"data folder {root!r} is a file, expected a directory of class folders")
    if not os.path.isdir(root):
        raise ValueError(f"data folder {root!r} does not exist or is not a directory")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    classes = [c for c in _visible(root) if os.path.isdir(os.path.join(root, c))]
    if len(classes) < 2:
        raise ValueError(
            f"data folder {root!r} needs one sub-folder per class (at least 2), "
            f"found {len(classes)}: {classes}"
        )
    entries: list[tuple[str, int]] = []
    for label, cls in enumerate(classes):
        folder = os.path.join(root, cls)
        clips = [
            os.path.join(folder, e)
            for e in _visible(folder)
            if os.path.isdir(os.path.join(folder, e)) or os.path.splitext(e)[1].lower() in VIDEO_EXTENSIONS
        ]
        if not clips:
            raise ValueError(f"class folder {folder!r} holds no video files or frame folders")
        entries += [(c, label) for c in clips]
    out = np.empty((len(entries), frames, channels, size, size), dtype=np.uint8)
    for i, (path, _) in enumerate(tqdm(entries, desc="loading clips", unit="clip", disable=not progress)):
        out[i] = load_clip(path, frames, size, channels)
    return ClipSet(
        frames=out,
        labels=np.array([lab for _, lab in entries], dtype=np.int64),
        class_names=tuple(classes),
        sources=tuple(os.path.relpath(p, root) for p, _ in entries),
    )
