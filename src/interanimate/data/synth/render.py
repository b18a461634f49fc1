"""Scene set-up per clip: camera, lights, background and the subject's palette."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from interanimate.data.synth.raster import (
    NUM_PALETTE, P_BLUSH, P_BROW, P_CLOTH, P_EYE_OPEN, P_HAIR, P_IRIS, P_LIP, P_NAIL, P_PALM, P_SKIN, P_SLEEVE,
    P_SPEC, P_TEX_SEED,
)
from interanimate.data.synth.subject import SubjectParams, srgb_to_linear


@dataclass
class Camera:
    """Pinhole camera at the origin looking along +z (x right, y down), pixel origin top-left."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def project(self, points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, np.float64)
        z = np.maximum(points[..., 2], 1e-6)
        return np.stack([self.fx * points[..., 0] / z + self.cx, self.fy * points[..., 1] / z + self.cy], -1)

    def to_dict(self) -> dict:
        return {k: round(float(v), 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def rotation_xyz(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Head rotation: yaw about y (down), pitch about x, roll about z."""
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return ry @ rx @ rz


def make_camera(rng: np.random.Generator, size: int) -> tuple[Camera, dict]:
    """A camera with a jittered field of view and framing; returns the head's base placement too."""
    fov = np.deg2rad(rng.uniform(26.0, 40.0))
    focal = 0.5 * size / np.tan(fov / 2)
    camera = Camera(focal, focal, size / 2 + rng.normal(0, 0.01) * size, size / 2 + rng.normal(0, 0.01) * size, size, size)
    frac = rng.uniform(0.48, 0.62)  # share of the frame height the head spans
    distance = 0.26 / (frac * 2 * np.tan(fov / 2))
    placement = {
        "fov_deg": float(np.rad2deg(fov)),
        "distance": float(distance),
        "yaw": float(rng.uniform(-0.35, 0.35)),
        "pitch": float(rng.uniform(-0.12, 0.10)),
        "roll": float(rng.uniform(-0.06, 0.06)),
        "offset": [float(rng.uniform(-0.06, 0.06) * distance * np.tan(fov / 2)),
                   float(rng.uniform(-0.06, 0.04) * distance * np.tan(fov / 2))],
        "shake": float(rng.choice([0.0, rng.uniform(0.0005, 0.002)])),
    }
    return camera, placement


def make_lights(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    """Key, fill and optional rim light (unit direction toward the light, RGB intensity); ambient RGB."""
    def direction(azimuth, elevation, behind=False):
        z = np.cos(azimuth) * np.cos(elevation)
        return np.array([np.sin(azimuth) * np.cos(elevation), -np.sin(elevation), z if behind else -z])

    temperature = rng.uniform(-1, 1)  # -1 cool daylight .. 1 warm tungsten
    tint = np.array([1.0 + 0.12 * temperature, 1.0, 1.0 - 0.18 * temperature])
    key_az = rng.uniform(-1.0, 1.0)
    key_i = rng.uniform(0.9, 1.5)
    lights = [np.concatenate([direction(key_az, rng.uniform(0.15, 0.8)), tint * key_i])]
    fill_tint = np.array([1.0 - 0.05 * temperature, 1.0, 1.0 + 0.05 * temperature])
    lights.append(np.concatenate([direction(-key_az * rng.uniform(0.5, 1.2), rng.uniform(-0.1, 0.3)),
                                  fill_tint * key_i * rng.uniform(0.15, 0.4)]))
    if rng.random() < 0.5:
        lights.append(np.concatenate([direction(rng.choice([-1, 1]) * rng.uniform(1.2, 1.5), rng.uniform(0.2, 0.6), True),
                                      np.ones(3) * rng.uniform(0.3, 0.7)]))
    ambient = np.full(3, rng.uniform(0.18, 0.32))
    info = {"temperature": float(temperature), "key_azimuth": float(key_az), "key_intensity": float(key_i),
            "num_lights": len(lights), "ambient": float(ambient[0])}
    return np.array(lights), ambient, info


BACKGROUND_KINDS = ("wall", "room", "bokeh", "tiles", "outdoor")


def make_background(rng: np.random.Generator, size: int) -> tuple[np.ndarray, str]:
    """A linear-RGB ``(size, size, 3)`` background of a random kind, rendered at a fixed 128 px and resized."""
    kind = BACKGROUND_KINDS[int(rng.integers(len(BACKGROUND_KINDS)))]
    n = 128
    yy, xx = np.mgrid[0:n, 0:n] / n
    base = rng.uniform(0.15, 0.85, 3) * rng.uniform(0.4, 1.0)
    img = np.ones((n, n, 3)) * base
    if kind == "wall":
        grad = 1.0 + rng.uniform(-0.35, 0.35) * (xx - 0.5) + rng.uniform(-0.3, 0.3) * (yy - 0.5)
        img *= grad[..., None]
    elif kind == "room":
        floor_y = rng.uniform(0.65, 0.9)
        img[yy > floor_y] = rng.uniform(0.1, 0.6, 3)
        for _ in range(int(rng.integers(1, 4))):
            x0, y0 = rng.uniform(0, 0.8), rng.uniform(0, 0.5)
            w, h = rng.uniform(0.1, 0.35), rng.uniform(0.15, 0.5)
            sel = (xx > x0) & (xx < x0 + w) & (yy > y0) & (yy < y0 + h)
            img[sel] = rng.uniform(0.05, 0.95, 3)
        img *= (1.0 - 0.3 * (yy - 0.5))[..., None]
    elif kind == "bokeh":
        for _ in range(int(rng.integers(6, 16))):
            cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.03, 0.12)
            blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
            img += blob[..., None] * rng.uniform(0.1, 0.9, 3) * 0.6
    elif kind == "tiles":
        period = rng.uniform(0.08, 0.2)
        grout = ((xx % period) < 0.08 * period) | ((yy % period) < 0.08 * period)
        img[grout] *= 0.6
    else:  # outdoor: sky over foliage-like noise
        horizon = rng.uniform(0.3, 0.6)
        sky = np.array([0.45, 0.6, 0.85]) * rng.uniform(0.7, 1.1)
        img[yy < horizon] = sky
        noise = cv2.resize(rng.uniform(0, 1, (12, 12)), (n, n), interpolation=cv2.INTER_CUBIC)
        green = np.array([0.15, 0.3, 0.1]) * (0.6 + 0.8 * noise[..., None])
        img = np.where((yy >= horizon)[..., None], green, img)
    noise = cv2.resize(rng.uniform(-1, 1, (24, 24)), (n, n), interpolation=cv2.INTER_CUBIC)
    img *= 1.0 + 0.06 * noise[..., None]
    blur = rng.uniform(0.5, 3.0)
    img = cv2.GaussianBlur(img, (0, 0), blur)
    img = cv2.resize(np.clip(img, 0, 1.5), (size, size), interpolation=cv2.INTER_LINEAR)
    return srgb_to_linear(np.clip(img, 0, 1)).astype(np.float64), kind


def make_palette(subject: SubjectParams, rng: np.random.Generator) -> np.ndarray:
    pal = np.zeros(NUM_PALETTE)
    skin = srgb_to_linear(subject.skin_srgb)
    pal[P_SKIN:P_SKIN + 3] = skin
    pal[P_LIP:P_LIP + 3] = srgb_to_linear(subject.lip_srgb)
    pal[P_HAIR:P_HAIR + 3] = srgb_to_linear(subject.hair_srgb)
    pal[P_BROW:P_BROW + 3] = srgb_to_linear(np.array(subject.hair_srgb) * 0.7 + 0.02)
    pal[P_IRIS:P_IRIS + 3] = srgb_to_linear(subject.eye_srgb)
    pal[P_CLOTH:P_CLOTH + 3] = srgb_to_linear(subject.clothing_srgb)
    pal[P_SLEEVE:P_SLEEVE + 3] = srgb_to_linear(subject.clothing_srgb)
    # Palms carry less melanin than the back of the hand, most visibly on darker skin.
    palm_srgb = np.array(subject.skin_srgb) + (np.array([0.93, 0.76, 0.66]) - np.array(subject.skin_srgb)) * (0.15 + 0.35 * subject.skin_tone)
    pal[P_PALM:P_PALM + 3] = srgb_to_linear(palm_srgb)
    nail_srgb = np.array(subject.skin_srgb) * 0.55 + np.array([0.88, 0.74, 0.70]) * 0.45
    pal[P_NAIL:P_NAIL + 3] = srgb_to_linear(nail_srgb)
    pal[P_TEX_SEED] = subject.texture_seed % 100000
    pal[P_EYE_OPEN] = 1.0
    pal[P_BLUSH] = rng.uniform(0.0, 0.5)
    pal[P_SPEC] = rng.uniform(0.05, 0.12)
    return pal
