"""Synthetic input video and the decoding of output video: H.264 in MPEG-TS through PyAV (its wheels bundle
libx264 and the decoders), frames as NumPy arrays.

Input frames are YUV 4:2:0 at a small size (default 256×144) so that encoding and decoding stay far below one
core. Each frame carries its identity twice:
- its presentation timestamp, in the MPEG-TS 90 kHz clock (`TICKS`): frame n of a stream at `fps` has
  PTS = round(n × 90000 / fps). ai-runner keeps each input frame's PTS on its output frame (rescaled to
  1/90000; runner/src/runner/live/trickle/decoder.py, encoder.py), so the prober matches output to input by
  PTS;
- a visible stamp: the top `STAMP_ROWS` rows are 16 black/white blocks holding 12 bits of n and a 4-bit check
  (`read_stamp`), for runners that keep the picture (the stand-in) and as a cross-check.
Below the stamp: a static gradient and a moving square, so encoders see motion.

Each input segment is one self-contained MPEG-TS container starting with an IDR frame (one GOP), as a gateway
cuts them. Errors decoding untrusted output are MediaError (the probe classifies them).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import av
import numpy as np

TICKS = 90_000  # MPEG-TS timestamps: 90 kHz
TIME_BASE = Fraction(1, TICKS)
STAMP_ROWS = 16
STAMP_BLOCKS = 16  # 12 id bits + 4 check bits
ID_BITS = 12
ID_MOD = 1 << ID_BITS
THUMB_GRID = (8, 16)  # rows × columns of the thumbnail used for frame differences


class MediaError(Exception):
    """Undecodable or oversized media (message says which)."""


@dataclass(frozen=True)
class EncodedSegment:
    """One input segment: MPEG-TS bytes and, per frame in order, its PTS (90 kHz ticks) and frame id."""

    index: int
    data: bytes
    pts: tuple[int, ...]
    frame_ids: tuple[int, ...]


@dataclass(frozen=True)
class DecodedFrame:
    """A decoded frame: PTS in 90 kHz ticks (None when the container carried none) and its luma plane (H×W uint8)."""

    pts: int | None
    luma: np.ndarray


def pts_of(frame_id: int, fps: int) -> int:
    return round(frame_id * TICKS / fps)


def _check(n: int) -> int:
    return (n ^ (n >> 4) ^ (n >> 8) ^ 0x5) & 0xF


def stamp_bits(frame_id: int) -> list[int]:
    """The 16 stamp bits of a frame id (mod 4096): 12 id bits, most significant first, then 4 check bits."""
    n = frame_id % ID_MOD
    word = (n << 4) | _check(n)
    return [(word >> (15 - i)) & 1 for i in range(STAMP_BLOCKS)]


def read_stamp(luma: np.ndarray) -> int | None:
    """The frame id (mod 4096) stamped in the top rows of a luma plane, or None when absent or corrupt."""
    h, w = luma.shape[:2]
    bw = w // STAMP_BLOCKS
    if h < STAMP_ROWS or bw < 2:
        return None
    band = luma[STAMP_ROWS // 4 : STAMP_ROWS * 3 // 4]
    word = 0
    for i in range(STAMP_BLOCKS):
        block = band[:, i * bw + bw // 4 : (i + 1) * bw - bw // 4]
        word = (word << 1) | (1 if float(block.mean()) >= 128.0 else 0)
    n, check = word >> 4, word & 0xF
    return n if _check(n) == check else None


@lru_cache(maxsize=4)
def _background(width: int, height: int) -> np.ndarray:
    ramp = np.linspace(60, 170, width, dtype=np.float32)[None, :] + np.linspace(0, 30, height, dtype=np.float32)[:, None]
    return ramp.astype(np.uint8)


def synth_yuv(frame_id: int, width: int, height: int) -> np.ndarray:
    """One input frame as a yuv420p array of shape (height × 3/2, width): stamp, gradient, moving square."""
    y = _background(width, height).copy()
    bw = width // STAMP_BLOCKS
    y[:STAMP_ROWS] = 16
    for i, bit in enumerate(stamp_bits(frame_id)):
        if bit:
            y[:STAMP_ROWS, i * bw : (i + 1) * bw] = 235
    side = max(4, height // 6)
    x0 = (frame_id * 4) % max(1, width - side)
    y0 = STAMP_ROWS + (height - STAMP_ROWS - side) // 2
    y[y0 : y0 + side, x0 : x0 + side] = 230
    chroma = np.full((height // 2, width), 128, np.uint8)
    return np.concatenate([y, chroma])


def encode_yuv_frames(frames: list[tuple[int, np.ndarray]], fps: int, width: int, height: int) -> bytes:
    """MPEG-TS bytes of yuv420p frames given as (pts in 90 kHz ticks, array); H.264 ultrafast/zerolatency, no
    B-frames, one GOP (first frame IDR). PTS are written as given."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = TIME_BASE
        stream.codec_context.gop_size = max(1, len(frames))
        stream.options = {"preset": "ultrafast", "tune": "zerolatency", "bf": "0", "threads": "1"}
        for pts, arr in frames:
            frame = av.VideoFrame.from_ndarray(arr, format="yuv420p")
            frame.pts = pts
            frame.time_base = TIME_BASE
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def container_pts(data: bytes) -> list[int]:
    """Video packet PTS of an MPEG-TS buffer in decode order (no decoding; 90 kHz ticks)."""
    with av.open(io.BytesIO(data), "r", format="mpegts") as c:
        return [p.pts for p in c.demux(video=0) if p.pts is not None]


@lru_cache(maxsize=8)
def encode_segments(count: int, frames_per_segment: int, fps: int, width: int, height: int) -> tuple[EncodedSegment, ...]:
    """`count` consecutive input segments of `frames_per_segment` frames each (frame ids 0, 1, …), with the PTS
    each container actually carries. Cached: probes with the same shape share one encoding."""
    segments = []
    for k in range(count):
        ids = tuple(range(k * frames_per_segment, (k + 1) * frames_per_segment))
        data = encode_yuv_frames([(pts_of(i, fps), synth_yuv(i, width, height)) for i in ids], fps, width, height)
        pts = tuple(sorted(container_pts(data)))
        if len(pts) != len(ids):
            raise MediaError(f"encoder wrote {len(pts)} frames for {len(ids)}")
        segments.append(EncodedSegment(k, data, pts, ids))
    return tuple(segments)


def decode_segment(data: bytes, max_frames: int = 10_000, max_pixels: int = 1920 * 1088) -> list[DecodedFrame]:
    """Decode an MPEG-TS segment's first video stream to luma planes. MediaError when it is not decodable, has
    no video, or a frame is larger than `max_pixels` or more than `max_frames` frames (bounded memory)."""
    frames: list[DecodedFrame] = []
    try:
        with av.open(io.BytesIO(data), "r", format="mpegts") as c:
            if not c.streams.video:
                raise MediaError("segment has no video stream")
            for frame in c.decode(video=0):
                if frame.width * frame.height > max_pixels:
                    raise MediaError(f"frame of {frame.width}×{frame.height} exceeds the size limit")
                if len(frames) >= max_frames:
                    raise MediaError(f"segment has more than {max_frames} frames")
                pts = None
                if frame.pts is not None:
                    pts = round(frame.pts * frame.time_base * TICKS) if frame.time_base != TIME_BASE else frame.pts
                frames.append(DecodedFrame(pts, frame.to_ndarray(format="gray")))
    except MediaError:
        raise
    except (av.error.FFmpegError, ValueError, IndexError, OSError) as e:
        raise MediaError(f"undecodable segment: {e}") from None
    return frames


def thumbnail(luma: np.ndarray) -> np.ndarray:
    """THUMB_GRID block means (float32) of the picture below the stamp rows: what frame differences compare."""
    body = luma[STAMP_ROWS:] if luma.shape[0] > STAMP_ROWS * 2 else luma
    rows, cols = THUMB_GRID
    h, w = body.shape[0] - body.shape[0] % rows, body.shape[1] - body.shape[1] % cols
    if h == 0 or w == 0:
        return np.zeros(THUMB_GRID, np.float32)
    return body[:h, :w].reshape(rows, h // rows, cols, w // cols).mean(axis=(1, 3), dtype=np.float32)


def frame_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two thumbnails, in luma levels (0–255)."""
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def decode_yuv_frames(data: bytes, max_frames: int = 10_000) -> list[tuple[int | None, np.ndarray]]:
    """Decode an MPEG-TS segment to (PTS in 90 kHz ticks, yuv420p array of shape (H×3/2, W)) per frame, for a
    runner that re-encodes what it receives (the stand-in). MediaError when undecodable or too long."""
    out: list[tuple[int | None, np.ndarray]] = []
    try:
        with av.open(io.BytesIO(data), "r", format="mpegts") as c:
            for frame in c.decode(video=0):
                if len(out) >= max_frames:
                    raise MediaError(f"segment has more than {max_frames} frames")
                pts = None if frame.pts is None else round(frame.pts * frame.time_base * TICKS)
                out.append((pts, frame.to_ndarray(format="yuv420p")))
    except MediaError:
        raise
    except (av.error.FFmpegError, ValueError, IndexError, OSError) as e:
        raise MediaError(f"undecodable segment: {e}") from None
    return out
