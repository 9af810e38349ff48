"""A procedural, anti-aliased dog sprite drawn from primitives, vectorised over many poses at once.

The dog is built in body-local units of its length ``s`` (facing +x, y pointing down) from signed
distance functions: a body ellipse, neck, head, snout, ear, tail and four two-point legs (near/far front,
near/far rear). A pose is a few numbers per frame — position, pitch, four leg swing angles and lengths,
tail angle — so a whole batch of clips (N·T poses) renders in one numpy pass. Coverage of a pixel is
``clip(0.5 − d, 0, 1)`` with ``d`` the distance (in pixels) from the pixel centre to the shape, which
anti-aliases edges and keeps sub-pixel motion visible.

Gait: leg swing angles are ``amp · sin(φ + offset)`` with per-leg offsets; in the gallop used for running
and jumping the rear pair lags the front by π, so ``φ = π/2`` is the *extended* pose (front legs forward,
rear legs back) and ``φ = 3π/2`` the *gathered* pose (all feet under the body). The flight pose of a jump
is the extended pose, which a running dog also shows once per stride.

Example::

    import numpy as np
    from rnnkit.data.sprites import DogPose, render_dog
    pose = DogPose.standing(np.array([16.0]), np.array([28.0]), np.array([12.0]))
    alpha = render_dog(pose, height=32, width=32)        # (1, 32, 32) coverage in [0, 1]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Body-local geometry, in units of the dog's length s (x forward, y down, origin at the body centre).
BODY_A, BODY_B = 0.42, 0.15  # body ellipse semi-axes
SHOULDER, HIP = (0.30, 0.08), (-0.30, 0.08)  # where the front and rear legs attach
LEG_LENGTH = 0.36
NECK_BASE = (0.30, -0.05)
HEAD, HEAD_R = (0.50, -0.28), 0.13
SNOUT_TIP = (0.69, -0.22)
EAR_BASE, EAR_TIP = (0.45, -0.37), (0.40, -0.50)
TAIL_BASE, TAIL_LENGTH = (-0.40, -0.04), 0.26

#: per-leg phase offsets (front-near, front-far, rear-near, rear-far)
GALLOP_OFFSETS = np.array([0.0, 0.5, np.pi, np.pi + 0.5])
WALK_OFFSETS = np.array([0.0, np.pi, 0.5 * np.pi, 1.5 * np.pi])
#: rear legs swing opposite to the front ones, so +amp on the front pair means "forward"
LEG_SIGN = np.array([1.0, 1.0, -1.0, -1.0])


@dataclass
class DogPose:
    """A batch of P poses; every field is a float array of shape (P,) unless noted.

    Attributes:
        x: image x of the body centre (pixels).
        ground: image y of the surface the dog stands on (its lowest point touches it when ``lift`` = 0).
        size: body length s in pixels.
        direction: +1 facing right, −1 facing left.
        pitch: body rotation in radians, positive = nose up.
        legs: (P, 4) swing angles of the front-near, front-far, rear-near, rear-far legs (+ = forward).
        leg_scale: (P, 4) leg lengths relative to ``LEG_LENGTH`` (folded rear legs when sitting < 1).
        tail: tail angle above the horizontal, radians.
        lift: height of the lowest point above ``ground`` (pixels; > 0 only in the air).
    """

    x: np.ndarray
    ground: np.ndarray
    size: np.ndarray
    direction: np.ndarray
    pitch: np.ndarray
    legs: np.ndarray
    leg_scale: np.ndarray
    tail: np.ndarray
    lift: np.ndarray

    @classmethod
    def standing(cls, x: np.ndarray, ground: np.ndarray, size: np.ndarray) -> DogPose:
        """Poses standing still, facing right, legs straight."""
        p = len(x)
        return cls(
            x=np.asarray(x, float),
            ground=np.asarray(ground, float),
            size=np.asarray(size, float),
            direction=np.ones(p),
            pitch=np.zeros(p),
            legs=np.zeros((p, 4)),
            leg_scale=np.ones((p, 4)),
            tail=np.full(p, 0.6),
            lift=np.zeros(p),
        )

    def __len__(self) -> int:
        return len(self.x)


def gait_angles(phase: np.ndarray, amplitude: np.ndarray, offsets: np.ndarray = GALLOP_OFFSETS) -> np.ndarray:
    """Leg swing angles (..., 4) for gait ``phase`` (...) and ``amplitude`` (...), radians."""
    return amplitude[..., None] * LEG_SIGN * np.sin(phase[..., None] + offsets)


def _rotate(px: np.ndarray, py: np.ndarray, pitch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotate body-local points by ``pitch`` (nose up for pitch > 0 in y-down coordinates)."""
    c, s = np.cos(pitch), np.sin(pitch)
    return px * c + py * s, py * c - px * s


def _local_points(pose: DogPose) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Key points in pitched body-local units (before mirroring and scaling), each (P,) or (P, 4)."""
    p = len(pose)
    ones = np.ones(p)
    attach_x = np.stack([ones * SHOULDER[0]] * 2 + [ones * HIP[0]] * 2, axis=1)  # (P, 4)
    attach_y = np.full((p, 4), SHOULDER[1])
    length = LEG_LENGTH * pose.leg_scale
    foot_x = attach_x + length * np.sin(pose.legs)  # (P, 4)
    foot_y = attach_y + length * np.cos(pose.legs)
    tail_x = TAIL_BASE[0] - TAIL_LENGTH * np.cos(pose.tail)
    tail_y = TAIL_BASE[1] - TAIL_LENGTH * np.sin(pose.tail)
    pts = {
        "attach": (attach_x, attach_y),
        "foot": (foot_x, foot_y),
        "neck": (ones * NECK_BASE[0], ones * NECK_BASE[1]),
        "head": (ones * HEAD[0], ones * HEAD[1]),
        "snout": (ones * SNOUT_TIP[0], ones * SNOUT_TIP[1]),
        "ear_base": (ones * EAR_BASE[0], ones * EAR_BASE[1]),
        "ear_tip": (ones * EAR_TIP[0], ones * EAR_TIP[1]),
        "tail_base": (ones * TAIL_BASE[0], ones * TAIL_BASE[1]),
        "tail_tip": (tail_x, tail_y),
    }
    pitch = pose.pitch
    out = {}
    for name, (px, py) in pts.items():
        th = pitch[:, None] if px.ndim == 2 else pitch
        out[name] = _rotate(px, py, th)
    return out


def leg_radius(size: np.ndarray) -> np.ndarray:
    """Half-thickness of the legs in pixels (at least 0.55 so limbs stay visible on small frames)."""
    return np.maximum(0.045 * size, 0.55)


def lowest_point(pose: DogPose) -> np.ndarray:
    """Pixels from the body centre down to the dog's lowest point: the rounded end of a foot or the
    bottom of the (pitched) body ellipse."""
    pts = _local_points(pose)
    feet = pts["foot"][1].max(axis=1) * pose.size + leg_radius(pose.size)  # (P,)
    th = pose.pitch
    body = np.sqrt((BODY_A * np.sin(th)) ** 2 + (BODY_B * np.cos(th)) ** 2) * pose.size
    return np.maximum(feet, body)


def body_centre_y(pose: DogPose) -> np.ndarray:
    """Image y of the body centre: the lowest point rests on ``ground`` and is raised by ``lift``."""
    return pose.ground - pose.lift - lowest_point(pose)


def _segment(gx, gy, ax, ay, bx, by, r):
    """Signed distance (P, H, W) from grid points to capsules a→b of radius r; a, b, r are (P,)."""
    ax, ay, bx, by, r = (v.astype(np.float32)[:, None, None] for v in (ax, ay, bx, by, r))
    dx, dy = bx - ax, by - ay
    t = ((gx - ax) * dx + (gy - ay) * dy) / np.maximum(dx * dx + dy * dy, 1e-9)
    t = np.clip(t, 0.0, 1.0)
    return np.hypot(gx - ax - t * dx, gy - ay - t * dy) - r


def _ellipse(gx, gy, cx, cy, a, b, angle):
    """Approximate signed distance (P, H, W) to ellipses with semi-axes a, b rotated by ``angle``."""
    cx, cy, a, b, angle = (v.astype(np.float32)[:, None, None] for v in (cx, cy, a, b, angle))
    c, s = np.cos(angle), np.sin(angle)
    u = (gx - cx) * c + (gy - cy) * s
    v = (gy - cy) * c - (gx - cx) * s
    k = np.sqrt((u / a) ** 2 + (v / b) ** 2)
    return (k - 1.0) * np.minimum(a, b)


def render_dog(pose: DogPose, height: int, width: int) -> np.ndarray:
    """Coverage masks (P, height, width) float32 in [0, 1] of the dogs described by ``pose``.

    Each dog is drawn inside a square window around its body centre (it never reaches further than
    0.8 s from it), so the cost grows with the dog's size, not the frame's.
    """
    if pose.legs.shape != (len(pose), 4):
        raise ValueError(f"pose.legs must have shape ({len(pose)}, 4), got {pose.legs.shape}")
    s, d = pose.size, np.sign(pose.direction)
    cy = body_centre_y(pose)
    pts = _local_points(pose)
    # window: W×W pixels starting at (ox, oy), in frame coordinates, around the body centre
    W = int(min(max(height, width), np.ceil(1.6 * float(s.max()) + 4)))
    ox = np.floor(pose.x - W / 2).astype(np.int64)  # (P,)
    oy = np.floor(cy - W / 2).astype(np.int64)
    local = np.arange(W, dtype=np.float32) + 0.5
    gx = (ox[:, None] + local)[:, None, :].astype(np.float32)  # (P, 1, W) pixel-centre x
    gy = (oy[:, None] + local)[:, :, None].astype(np.float32)  # (P, W, 1)

    def img(name: str, leg: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        px, py = pts[name]
        if leg is not None:
            px, py = px[:, leg], py[:, leg]
        return pose.x + d * s * px, cy + s * py

    thin = leg_radius(s)
    hx, hy = img("head")
    dist = _ellipse(gx, gy, pose.x, cy, BODY_A * s, BODY_B * s, -d * pose.pitch)
    parts = [
        _segment(gx, gy, hx, hy, hx, hy, HEAD_R * s),
        _segment(gx, gy, *img("neck"), hx, hy, 0.075 * s),
        _segment(gx, gy, hx, hy, *img("snout"), 0.06 * s),
        _segment(gx, gy, *img("ear_base"), *img("ear_tip"), np.maximum(0.04 * s, 0.5)),
        _segment(gx, gy, *img("tail_base"), *img("tail_tip"), np.maximum(0.035 * s, 0.5)),
    ]
    parts += [_segment(gx, gy, *img("attach", leg), *img("foot", leg), thin) for leg in range(4)]
    for part in parts:
        np.minimum(dist, part, out=dist)
    alpha = np.clip(0.5 - dist, 0.0, 1.0)  # (P, W, W)
    # paste the windows into the frames (a margin of W on every side absorbs windows at the border)
    canvas = np.zeros((len(pose), height + 2 * W, width + 2 * W), dtype=np.float32)
    rows = (oy + W)[:, None, None] + np.arange(W)[None, :, None]  # (P, W, 1)
    cols = (ox + W)[:, None, None] + np.arange(W)[None, None, :]  # (P, 1, W)
    rows, cols = np.clip(rows, 0, height + W), np.clip(cols, 0, width + W)
    canvas[np.arange(len(pose))[:, None, None], rows, cols] = alpha
    return canvas[:, W : W + height, W : W + width]
