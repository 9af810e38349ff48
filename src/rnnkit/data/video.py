"""Procedural video clips for "does the dog jump?": a dog running, walking, sitting or jumping.

Each clip shows a procedural dog (``rnnkit.data.sprites``) in a scene with a sky gradient, a textured
ground below a hilly horizon, camera shake, a slow vertical camera tilt or bob, a bouncing ball, drifting
blobs and pixel noise. The label is jump / no-jump; the activity (run, walk, sit, jump) is kept as
metadata. The generator is built so that **no single frame answers the question**:

- the dog stands anywhere between just below the horizon and the bottom of the frame (a far dog is
  drawn higher up, at the same size), and the horizon height varies per clip, so a dog in mid-air sits at
  the same height above the horizon as a grounded dog further away;
- the flight pose (legs extended) is a pose a running dog shows once per stride, and the take-off
  crouch resembles the start of sitting down;
- the dog may drift up or down (walking towards or away from the camera), the whole scene may rise and
  fall with a camera bob, and a ball bounces — all in both classes with the same distribution.
A jump is only visible as the dog rising and falling *relative to the scene* over several frames.

Example::

    from rnnkit.data.video import ClipConfig, make_clips
    clips = make_clips(256, ClipConfig(frames=16, size=32), seed=0)
    clips.frames.shape       # (256, 16, 1, 32, 32) uint8
    x, y = clips.tensors()   # float32 in [0, 1], int64 labels (1 = jump)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from .sprites import GALLOP_OFFSETS, WALK_OFFSETS, DogPose, gait_angles, render_dog

ACTIVITIES: tuple[str, ...] = ("run", "walk", "sit", "jump")
CLASS_NAMES: tuple[str, ...] = ("no-jump", "jump")
_CHUNK = 64  # clips rendered per numpy pass (bounds memory; results do not depend on it)


@dataclass(frozen=True)
class ClipConfig:
    """What the generator draws. Lengths are in frames, sizes in pixels, amplitudes as fractions of size.

    Attributes:
        frames: T, frames per clip (8–64).
        size: S, frames are S×S (24–128).
        channels: 1 (grayscale) or 3 (RGB).
        jump_fraction: share of jump clips (labels are balanced exactly up to rounding).
        noise: largest per-clip standard deviation of the per-pixel Gaussian noise (intensity units).
        shake: largest per-clip standard deviation of the camera shake, as a fraction of S.
        bob: largest amplitude of a slow camera bob that raises and lowers the whole scene (fraction of S).
        distractors: draw the bouncing ball and drifting blobs.
    """

    frames: int = 16
    size: int = 32
    channels: int = 1
    jump_fraction: float = 0.5
    noise: float = 0.05
    shake: float = 0.02
    bob: float = 0.15
    distractors: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.frames, int) or not 8 <= self.frames <= 64:
            raise ValueError(f"frames must be an int in [8, 64], got {self.frames!r}")
        if not isinstance(self.size, int) or not 24 <= self.size <= 128:
            raise ValueError(f"size must be an int in [24, 128], got {self.size!r}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels!r}")
        if not 0.0 <= self.jump_fraction <= 1.0:
            raise ValueError(f"jump_fraction must lie in [0, 1], got {self.jump_fraction}")
        for name in ("noise", "shake", "bob"):
            if not 0.0 <= getattr(self, name) <= 0.5:
                raise ValueError(f"{name} must lie in [0, 0.5], got {getattr(self, name)}")


@dataclass
class ClipSet:
    """A labelled set of clips (generated, or loaded from the user's folders).

    Attributes:
        frames: (N, T, C, S, S) uint8.
        labels: (N,) int64 class indices into ``class_names``.
        class_names: names of the classes (``("no-jump", "jump")`` for generated clips).
        activity: (N,) int64 indices into ``ACTIVITIES`` (generated clips only).
        airborne: (N, T) bool, True while the dog is in the air (generated clips only).
        feet_y: (N, T) float32 image row of the dog's lowest point (generated clips only).
        horizon_y: (N, T) float32 image row of the horizon under the dog (generated clips only).
        sources: (N,) where each clip came from (user data only).
    """

    frames: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...] = CLASS_NAMES
    activity: np.ndarray | None = None
    airborne: np.ndarray | None = None
    feet_y: np.ndarray | None = None
    horizon_y: np.ndarray | None = None
    sources: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        if self.frames.ndim != 5 or self.frames.dtype != np.uint8:
            raise ValueError(
                f"frames must be a uint8 array (N, T, C, S, S), got {self.frames.dtype} {self.frames.shape}"
            )
        if self.labels.shape != (len(self.frames),):
            raise ValueError(f"labels must have shape ({len(self.frames)},), got {self.labels.shape}")

    def __len__(self) -> int:
        return len(self.frames)

    def subset(self, index: np.ndarray | slice) -> ClipSet:
        """The clips at ``index`` (metadata follows)."""

        def pick(a):
            return None if a is None else a[index]

        sources = None
        if self.sources is not None:
            sources = tuple(np.asarray(self.sources, dtype=object)[index])
        return replace(
            self,
            frames=self.frames[index],
            labels=self.labels[index],
            activity=pick(self.activity),
            airborne=pick(self.airborne),
            feet_y=pick(self.feet_y),
            horizon_y=pick(self.horizon_y),
            sources=sources,
        )

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(frames as float32 (N, T, C, S, S) in [0, 1], labels as int64 (N,))."""
        x = torch.from_numpy(self.frames).float().div_(255.0)
        return x, torch.from_numpy(self.labels.astype(np.int64))


def make_clips(n: int, config: ClipConfig | None = None, seed: int = 0) -> ClipSet:
    """Generate ``n`` labelled clips, deterministically for a given ``seed`` and ``config``."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    cfg = config or ClipConfig()
    rng = np.random.default_rng(seed)
    p = _sample_clip_params(n, cfg, rng)
    frames = np.empty((n, cfg.frames, cfg.channels, cfg.size, cfg.size), dtype=np.uint8)
    airborne = np.empty((n, cfg.frames), dtype=bool)
    feet_y = np.empty((n, cfg.frames), dtype=np.float32)
    horizon_y = np.empty((n, cfg.frames), dtype=np.float32)
    for start in range(0, n, _CHUNK):
        idx = slice(start, min(n, start + _CHUNK))
        chunk = {k: v[idx].astype(np.float32) if v.dtype == np.float64 else v[idx] for k, v in p.items()}
        noise_rng = np.random.default_rng([seed, start])
        frames[idx], airborne[idx], feet_y[idx], horizon_y[idx] = _render_chunk(chunk, cfg, noise_rng)
    return ClipSet(
        frames=frames,
        labels=(p["activity"] == ACTIVITIES.index("jump")).astype(np.int64),
        activity=p["activity"].astype(np.int64),
        airborne=airborne,
        feet_y=feet_y,
        horizon_y=horizon_y,
    )


def _sample_clip_params(n: int, cfg: ClipConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Everything random about each clip, as arrays of shape (n,) or (n, k)."""
    S, T = float(cfg.size), cfg.frames
    u = rng.uniform
    n_jump = round(n * cfg.jump_fraction)
    others = np.arange(n - n_jump) % 3  # run, walk, sit in equal shares
    activity = rng.permutation(np.concatenate([np.full(n_jump, 3), others]))
    jump, sit, walk = activity == 3, activity == 2, activity == 1
    p: dict[str, np.ndarray] = {"activity": activity}
    p["horizon"] = u(0.30, 0.50, n) * S
    p["hill_amp"], p["hill_freq"] = u(0, 0.05, n) * S, u(0.5, 2.0, n) * 2 * np.pi / S
    p["hill_phase"] = u(0, 2 * np.pi, n)
    p["dog_size"] = u(0.34, 0.44, n) * S
    p["direction"] = rng.choice([-1.0, 1.0], n)
    # jump timing: flight of k frames starting at t0, with a crouch frame before and after
    k = rng.integers(round(0.3 * T), round(0.5 * T) + 1, n)
    p["flight"] = k
    p["takeoff"] = rng.integers(2, T - k - 1)
    p["jump_height"] = u(0.18, 0.30, n) * S
    p["sit_at"] = rng.integers(2, T - 5, n)
    # horizontal travel, as a share of the free span, and the gait
    span = S - 1.1 * p["dog_size"]
    travel = np.where(walk, u(0.20, 0.45, n), np.where(sit, u(0.10, 0.35, n), u(0.55, 0.95, n))) * span
    p["speed"] = travel / np.where(sit, p["sit_at"], T - 1)
    lo = 0.55 * p["dog_size"]
    start = lo + u(0, 1, n) * (span - travel)
    p["x0"] = np.where(p["direction"] > 0, start, S - start)
    gait_fast = ~(walk | sit)
    p["omega"] = np.where(gait_fast, u(1.0, 1.5, n), u(0.5, 0.8, n))
    p["amp"] = np.where(gait_fast, u(0.55, 0.7, n), u(0.3, 0.4, n))
    p["phase0"] = u(0, 2 * np.pi, n)
    # depth: the ground line under the dog, drifting when it walks towards/away from the camera
    margin, bottom = 0.06 * S, S - 0.06 * S
    drift = np.where(rng.random(n) < 0.5, u(-0.12, 0.12, n) * S, 0.0)
    top = p["horizon"] + margin + np.where(jump, p["jump_height"], 0.0) + np.maximum(0, -drift)
    low = bottom - np.maximum(0, drift)
    p["drift"] = np.where(low > top, drift, 0.0)
    top = np.minimum(top, low)
    p["ground0"] = top + u(0, 1, n) * (low - top)
    p["pitch_amp"], p["pitch_freq"] = u(0, 0.12, n), u(0.1, 0.5, n)
    p["pitch_phase"], p["tail_phase"] = u(0, 2 * np.pi, n), u(0, 2 * np.pi, n)
    # camera: shake, tilt, and in 40% of clips a slow bob that raises and lowers the whole scene
    p["shake"] = u(0, 1, n) * cfg.shake * S
    p["tilt"] = u(-0.04, 0.04, n) * S
    p["bob_amp"] = np.where(rng.random(n) < 0.4, u(0.3, 1.0, n) * cfg.bob * S, 0.0) * rng.choice([-1, 1], n)
    p["bob_len"] = rng.integers(round(0.3 * T), round(0.6 * T) + 1, n)
    p["bob_at"] = rng.integers(0, T - p["bob_len"] + 1)
    # colours: a light scene with a dark dog, or a dark scene with a light dog
    light = rng.random(n) < 0.5
    sky = np.where(light, u(0.60, 0.95, n), u(0.05, 0.35, n))
    ground = np.where(light, u(0.40, 0.70, n), u(0.20, 0.45, n))
    dog = np.where(light, u(0.0, 0.2, n), u(0.78, 1.0, n))
    tint = (lambda: u(-0.12, 0.12, (n, 3))) if cfg.channels == 3 else (lambda: np.zeros((n, 1)))
    p["sky_col"], p["ground_col"], p["dog_col"] = (
        sky[:, None] + tint(),
        ground[:, None] + tint(),
        dog[:, None] + tint(),
    )
    p["sky_grad"] = u(-0.25, 0.25, n)
    p["tex_amp"] = u(0.0, 0.08, (n, 3))
    p["tex_fx"], p["tex_fy"] = u(0.2, 1.5, (n, 3)), u(0.2, 1.5, (n, 3))
    p["tex_phase"] = u(0, 2 * np.pi, (n, 3))
    # distractors: a bouncing ball and up to two drifting blobs
    on = cfg.distractors
    p["ball_on"] = (rng.random(n) < 0.5) & on
    p["ball_r"] = u(0.04, 0.07, n) * S
    p["ball_x0"], p["ball_vx"] = u(0.1, 0.9, n) * S, u(-1.0, 1.0, n) * S / T
    p["ball_ground"] = p["horizon"] + margin + u(0, 1, n) * (bottom - p["horizon"] - margin)
    p["ball_h"], p["ball_w"] = u(0.15, 0.35, n) * S, u(0.25, 0.6, n)
    p["ball_phase"] = u(0, np.pi, n)
    p["ball_col"] = np.where(light, u(0.0, 0.3, n), u(0.7, 1.0, n))[:, None] + tint()
    p["blob_amp"] = np.where(rng.random((n, 2)) < 0.5, u(-0.2, 0.2, (n, 2)), 0.0) * on
    p["blob_x0"], p["blob_y0"] = u(0, 1, (n, 2)) * S, u(0, 1, (n, 2)) * S
    p["blob_vx"], p["blob_vy"] = u(-0.6, 0.6, (n, 2)), u(-0.6, 0.6, (n, 2))
    p["blob_sigma"] = u(0.05, 0.12, (n, 2)) * S
    p["noise"] = u(0.2, 1.0, n) * cfg.noise
    return p


def _dog_timeline(p: dict[str, np.ndarray], T: int, shape_rng: np.random.Generator):
    """Per-frame pose fields (n, T) of each clip in world coordinates, and the airborne mask."""
    n = len(p["activity"])
    t = np.arange(T, dtype=np.float64)[None, :]  # (1, T)
    act = p["activity"][:, None]
    sit, jump = act == 2, act == 3
    t_move = np.where(sit, np.minimum(t, p["sit_at"][:, None]), t)
    x = p["x0"][:, None] + p["direction"][:, None] * p["speed"][:, None] * t_move
    phase = p["phase0"][:, None] + p["omega"][:, None] * t_move
    w = np.where(sit, np.clip((t - p["sit_at"][:, None] + 1) / 3.0, 0.0, 1.0), 0.0)  # sitting down, 0 → 1
    amp = p["amp"][:, None] * (1 - w)
    fast = (act == 0) | jump
    legs = np.where(fast[..., None], gait_angles(phase, amp), gait_angles(phase, amp, WALK_OFFSETS))
    legs = legs + w[..., None] * np.array([-0.1, -0.1, 1.25, 1.25])
    leg_scale = np.ones((n, T, 4)) - w[..., None] * np.array([0.0, 0.0, 0.4, 0.4])
    pitch = p["pitch_amp"][:, None] * np.sin(p["pitch_freq"][:, None] * t + p["pitch_phase"][:, None])
    pitch = pitch + 0.5 * w
    # the jump: crouch (gathered legs) → k frames of flight on a parabola (extended legs) → landing crouch
    rel = t - p["takeoff"][:, None]
    k = p["flight"][:, None]
    flying = jump & (rel >= 0) & (rel < k)
    crouch = jump & ((rel == -1) | (rel == k))
    frac = (rel + 0.5) / k
    lift = np.where(flying, p["jump_height"][:, None] * 4 * frac * (1 - frac), 0.0)
    extended = gait_angles(np.full((n, T), 0.5 * np.pi), p["amp"][:, None] * np.ones((1, T)), GALLOP_OFFSETS)
    gathered = gait_angles(np.full((n, T), 1.5 * np.pi), p["amp"][:, None] * np.ones((1, T)), GALLOP_OFFSETS)
    legs = np.where(flying[..., None], extended + shape_rng.normal(0, 0.08, (n, T, 4)), legs)
    legs = np.where(crouch[..., None], gathered, legs)
    leg_scale = np.where(crouch[..., None], 0.8, leg_scale)
    pitch = pitch + np.where(flying, 0.3 * (1 - 2 * frac), 0.0) + np.where(crouch, 0.12, 0.0)
    tail = 0.55 + 0.3 * np.sin(0.9 * t + p["tail_phase"][:, None])
    ground = p["ground0"][:, None] + p["drift"][:, None] * t / (T - 1)
    return dict(x=x, ground=ground, pitch=pitch, legs=legs, leg_scale=leg_scale, tail=tail, lift=lift), flying


def _render_chunk(p: dict[str, np.ndarray], cfg: ClipConfig, rng: np.random.Generator):
    n, T, S = len(p["activity"]), cfg.frames, cfg.size
    t = np.arange(T, dtype=np.float64)[None, :]  # (1, T)
    dog, airborne = _dog_timeline(p, T, rng)
    # camera offsets (n, T): image = world + offset
    bob_u = np.clip((t - p["bob_at"][:, None] + 0.5) / p["bob_len"][:, None], 0.0, 1.0)
    cam_y = p["tilt"][:, None] * (t / (T - 1) - 0.5) + p["bob_amp"][:, None] * np.sin(np.pi * bob_u)
    cam_y = (cam_y + rng.normal(0, 1, (n, T)) * p["shake"][:, None]).astype(np.float32)
    cam_x = (rng.normal(0, 1, (n, T)) * p["shake"][:, None]).astype(np.float32)
    g = np.arange(S, dtype=np.float32) + 0.5
    xw = g[None, None, None, :] - cam_x[..., None, None]  # (n, T, 1, S) world x of each column
    yw = g[None, None, :, None] - cam_y[..., None, None]  # (n, T, S, 1) world y of each row

    def col(name: str) -> np.ndarray:  # (n, C) colour → (n, 1, C, 1, 1)
        return p[name][:, None, :, None, None]

    def per(name: str) -> np.ndarray:  # (n,) → (n, 1, 1, 1)
        return p[name][:, None, None, None]

    horizon = per("horizon") + per("hill_amp") * np.sin(per("hill_freq") * xw + per("hill_phase"))
    on_ground = 1.0 / (1.0 + np.exp(-(yw - horizon) / 0.35))  # (n, T, S, S)
    tex = sum(
        p["tex_amp"][:, j, None, None, None]
        * np.sin(
            p["tex_fx"][:, j, None, None, None] * xw
            + p["tex_fy"][:, j, None, None, None] * yw
            + p["tex_phase"][:, j, None, None, None]
        )
        for j in range(3)
    )
    sky = per("sky_grad") * (yw / S - 0.5)
    img = (1 - on_ground)[:, :, None] * (col("sky_col") + sky[:, :, None])
    img = img + on_ground[:, :, None] * (col("ground_col") + tex[:, :, None])  # (n, T, C, S, S)
    # drifting blobs (in image coordinates)
    gi_x, gi_y = g[None, None, None, :], g[None, None, :, None]
    for j in range(2):
        bx = p["blob_x0"][:, j, None] + p["blob_vx"][:, j, None] * t  # (n, T)
        by = p["blob_y0"][:, j, None] + p["blob_vy"][:, j, None] * t
        sig = p["blob_sigma"][:, j, None, None, None]
        blob = np.exp(-((gi_x - bx[..., None, None]) ** 2 + (gi_y - by[..., None, None]) ** 2) / (2 * sig**2))
        img = img + (p["blob_amp"][:, j, None, None, None] * blob)[:, :, None]
    # bouncing ball (world coordinates, drawn behind the dog)
    bx = p["ball_x0"][:, None] + p["ball_vx"][:, None] * t + cam_x
    hop = p["ball_h"][:, None] * np.abs(np.sin(p["ball_w"][:, None] * t + p["ball_phase"][:, None]))
    by = p["ball_ground"][:, None] - p["ball_r"][:, None] - hop + cam_y
    dist = np.hypot(gi_x - bx[..., None, None], gi_y - by[..., None, None]) - p["ball_r"][:, None, None, None]
    ball = np.clip(0.5 - dist, 0, 1) * p["ball_on"][:, None, None, None]
    img = img * (1 - ball[:, :, None]) + col("ball_col") * ball[:, :, None]
    # the dog
    pose = DogPose(
        x=(dog["x"] + cam_x).ravel(),
        ground=(dog["ground"] + cam_y).ravel(),
        size=np.repeat(p["dog_size"], T),
        direction=np.repeat(p["direction"], T),
        pitch=dog["pitch"].ravel(),
        legs=dog["legs"].reshape(n * T, 4),
        leg_scale=dog["leg_scale"].reshape(n * T, 4),
        tail=dog["tail"].ravel(),
        lift=dog["lift"].ravel(),
    )
    alpha = render_dog(pose, S, S).reshape(n, T, 1, S, S)
    img = img * (1 - alpha) + col("dog_col") * alpha
    img = img + rng.normal(0, 0.02, (n, T, 1, 1, 1)).astype(np.float32)  # brightness flicker
    img = img + rng.standard_normal(img.shape, dtype=np.float32) * p["noise"][:, None, None, None, None]
    frames = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
    feet = dog["ground"] + cam_y - dog["lift"]
    hx = dog["x"]
    hor = p["horizon"][:, None] + p["hill_amp"][:, None] * np.sin(
        p["hill_freq"][:, None] * hx + p["hill_phase"][:, None]
    )
    return frames, airborne, feet.astype(np.float32), (hor + cam_y).astype(np.float32)
