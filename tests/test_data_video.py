"""The jump clip generator, the dog sprite, and the user's clip folders."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rnnkit.data.sprites import DogPose, body_centre_y, gait_angles, lowest_point, render_dog
from rnnkit.data.video import ACTIVITIES, ClipConfig, ClipSet, make_clips
from rnnkit.data.videofiles import load_clip, load_clip_folder, resample_indices

SMALL = ClipConfig(frames=12, size=32)


@pytest.fixture(scope="module")
def clips() -> ClipSet:
    return make_clips(600, ClipConfig(frames=16, size=32), seed=11)


def test_shapes_dtypes_and_determinism():
    a = make_clips(10, SMALL, seed=3)
    assert a.frames.shape == (10, 12, 1, 32, 32) and a.frames.dtype == np.uint8
    assert a.labels.dtype == np.int64 and a.airborne.shape == (10, 12) and a.feet_y.shape == (10, 12)
    b = make_clips(10, SMALL, seed=3)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.frames, make_clips(10, SMALL, seed=4).frames)
    rgb = make_clips(4, ClipConfig(frames=8, size=40, channels=3), seed=0)
    assert rgb.frames.shape == (4, 8, 3, 40, 40)
    x, y = rgb.tensors()
    assert x.dtype.is_floating_point and float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert y.tolist() == rgb.labels.tolist()
    sub = a.subset(np.array([1, 3]))
    assert len(sub) == 2 and sub.airborne.shape == (2, 12)
    np.testing.assert_array_equal(sub.frames[1], a.frames[3])


def test_label_balance_and_activities(clips):
    assert clips.labels.sum() == 300
    jump = ACTIVITIES.index("jump")
    np.testing.assert_array_equal(clips.labels, clips.activity == jump)
    counts = np.bincount(clips.activity, minlength=4)
    assert counts.tolist() == [100, 100, 100, 300]
    assert make_clips(9, SMALL, seed=0).labels.sum() == 4  # round(4.5) = 4: balanced up to rounding
    assert make_clips(10, ClipConfig(frames=12, jump_fraction=0.2), seed=0).labels.sum() == 2


def test_jumps_are_one_contiguous_rise_and_fall(clips):
    rel = clips.horizon_y - clips.feet_y  # height of the lowest point above the horizon line, (N, T)
    for i in np.flatnonzero(clips.labels)[:100]:
        air = np.flatnonzero(clips.airborne[i])
        assert 0.3 * 16 - 1 <= len(air) <= 0.5 * 16 + 1 and np.all(np.diff(air) == 1)
        assert air[0] >= 2 and air[-1] <= 16 - 3  # take-off and landing both inside the clip
        peak = rel[i, air].max()
        assert peak > rel[i, air[0] - 2] + 3 and peak > rel[i, air[-1] + 2] + 3
    assert not clips.airborne[clips.labels == 0].any()


def test_no_single_frame_answers_but_the_trajectory_does(clips):
    """The statistic the generator controls: the dog's height above the horizon. From one frame it
    barely tells jump from no-jump; over the clip (a rise and fall) it separates them."""
    rel = (clips.horizon_y - clips.feet_y) / 32.0  # (N, T), in frame heights
    y = clips.labels.astype(bool)
    airborne_heights = rel[clips.airborne]
    grounded_heights = rel[~y].ravel()
    lo, hi = np.percentile(grounded_heights, [0.5, 99.5])
    # almost every mid-air height is also a height at which grounded dogs are seen
    assert np.mean((airborne_heights >= lo) & (airborne_heights <= hi)) > 0.95
    # the best threshold on one random frame's height is a poor classifier …
    rng = np.random.default_rng(0)
    one = rel[np.arange(len(rel)), rng.integers(0, rel.shape[1], len(rel))]
    best_single = max(np.mean((one > t) == y) for t in np.unique(one))
    best_single = max(best_single, max(np.mean((one < t) == y) for t in np.unique(one)))
    assert best_single < 0.65
    # … while the rise above the straight line between the clip's ends separates the classes
    t = np.linspace(0, 1, rel.shape[1])
    chord = rel[:, :1] + (rel[:, -1:] - rel[:, :1]) * t
    rise = (rel - chord).max(axis=1)
    best_traj = max(np.mean((rise > th) == y) for th in np.unique(rise))
    assert best_traj > 0.97


def test_dog_rests_on_its_ground_line():
    P = 24
    rng = np.random.default_rng(0)
    pose = DogPose.standing(rng.uniform(20, 44, P), rng.uniform(40, 56, P), rng.uniform(14, 22, P))
    pose.legs = gait_angles(rng.uniform(0, 2 * np.pi, P), np.full(P, 0.6))
    pose.pitch = rng.uniform(-0.3, 0.5, P)
    pose.direction = rng.choice([-1.0, 1.0], P)
    pose.lift = np.where(np.arange(P) % 2 == 0, 0.0, 6.0)
    alpha = render_dog(pose, 64, 64)
    assert alpha.shape == (P, 64, 64) and alpha.min() >= 0 and alpha.max() <= 1
    rows = np.arange(64) + 0.5
    for k in range(P):
        covered = rows[(alpha[k] > 0.5).any(axis=1)]
        target = pose.ground[k] - pose.lift[k]
        assert abs(covered.max() + 0.5 - target) < 1.0, k  # the lowest covered pixel touches the line
        assert alpha[k].sum() > 0.05 * pose.size[k] ** 2  # a body, not a speck
    # the body centre sits lowest_point(pose) pixels above the lowest point
    np.testing.assert_allclose(pose.ground - pose.lift - body_centre_y(pose), lowest_point(pose))
    # a dog at the frame border is clipped, not wrapped around
    edge = DogPose.standing(np.array([1.0]), np.array([63.0]), np.array([20.0]))
    cut = render_dog(edge, 64, 64)[0]
    assert cut[:, :12].sum() > 5 and cut[:, 40:].sum() == 0


def test_config_validation():
    with pytest.raises(ValueError, match="frames must be an int in \\[8, 64\\], got 4"):
        ClipConfig(frames=4)
    with pytest.raises(ValueError, match="channels must be 1 or 3, got 2"):
        ClipConfig(channels=2)
    with pytest.raises(ValueError, match="n must be a positive int, got 0"):
        make_clips(0)
    with pytest.raises(ValueError, match="frames must be a uint8 array"):
        ClipSet(np.zeros((2, 3, 1, 4, 4), np.float32), np.zeros(2, np.int64))


def _gradient_frame(level: int, size: int = 20) -> np.ndarray:
    """An RGB frame whose brightness encodes its index (and a bar that identifies its position)."""
    img = np.full((size, size + 6, 3), level, dtype=np.uint8)
    img[:, :3, 0] = 255
    return img


def test_user_folders_of_frames_and_videos(tmp_path):
    import imageio.v3 as iio

    levels = [20, 60, 100, 140, 180, 220]
    # class "jump": two folders of PNG frames named so that natural order differs from string order
    for clip in ("a", "b"):
        folder = tmp_path / "jump" / clip
        folder.mkdir(parents=True)
        for i, lev in enumerate(levels):
            Image.fromarray(_gradient_frame(lev)).save(folder / f"frame{i * 5}.png")
    # class "still": one MP4 (PyAV) and one GIF
    (tmp_path / "still").mkdir()
    video = np.stack([_gradient_frame(lev, 32) for lev in levels * 2])  # 12 frames, 32x38
    iio.imwrite(tmp_path / "still" / "clip.mp4", video, plugin="pyav", codec="libx264", fps=10)
    iio.imwrite(tmp_path / "still" / "clip.gif", video[:6], plugin="pillow", duration=100)
    (tmp_path / "still" / "notes.txt").write_text("ignored: not a clip")

    data = load_clip_folder(str(tmp_path), frames=4, size=16, channels=1, progress=False)
    assert data.class_names == ("jump", "still")
    assert data.frames.shape == (4, 4, 1, 16, 16) and data.frames.dtype == np.uint8
    assert data.labels.tolist() == [0, 0, 1, 1]
    assert data.sources == ("jump/a", "jump/b", "still/clip.gif", "still/clip.mp4")
    # frames come in natural order, evenly resampled: levels at indices 0, 2, 3, 5 of 6
    means = data.frames[0, :, 0, :, 8:].mean(axis=(1, 2))
    np.testing.assert_allclose(means, [levels[i] for i in resample_indices(6, 4)], atol=3)
    gif_means = data.frames[2, :, 0, :, 8:].mean(axis=(1, 2))
    np.testing.assert_allclose(gif_means, [levels[i] for i in resample_indices(6, 4)], atol=6)
    mp4_means = data.frames[3, :, 0, :, 8:].mean(axis=(1, 2))  # lossy codec: only the ordering
    assert np.all(np.diff(mp4_means[:2]) > 20)
    rgb = load_clip(str(tmp_path / "jump" / "a"), frames=8, size=12, channels=3)
    assert rgb.shape == (8, 3, 12, 12) and rgb[0, 0, :, 0].min() > 150  # the red bar survives in RGB


def test_resample_indices():
    assert resample_indices(10, 4).tolist() == [0, 3, 6, 9]
    assert resample_indices(2, 5).tolist() == [0, 0, 0, 1, 1]  # np.rint rounds half to even
    with pytest.raises(ValueError, match="at least one frame"):
        resample_indices(0, 3)


def test_user_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_clip_folder(str(tmp_path / "missing"))
    (tmp_path / "only").mkdir()
    with pytest.raises(ValueError, match="at least 2"):
        load_clip_folder(str(tmp_path))
    (tmp_path / "other").mkdir()
    with pytest.raises(ValueError, match="holds no video files or frame folders"):
        load_clip_folder(str(tmp_path), progress=False)
    (tmp_path / "only" / "empty").mkdir()
    (tmp_path / "other" / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(ValueError, match="holds no images"):
        load_clip_folder(str(tmp_path), progress=False)
    with pytest.raises(ValueError, match="could not decode video"):
        load_clip(str(tmp_path / "other" / "broken.mp4"))
    with pytest.raises(ValueError, match="neither a folder of frames nor a video file"):
        load_clip(str(tmp_path / "x.txt"))
