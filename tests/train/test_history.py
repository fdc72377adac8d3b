"""The history buffer follows the paper's rule: fill, sample b/2, replace b/2 random slots; it round-trips."""

from __future__ import annotations

import io

import pytest
import torch

from simgan.train.history import HistoryBuffer


def _batch(start: int, n: int) -> torch.Tensor:
    # Image k is constant k, so the stored images can be identified.
    return torch.arange(start, start + n, dtype=torch.float32)[:, None, None, None].expand(n, 1, 2, 3).clone()


def _ids(images: torch.Tensor) -> list[int]:
    return [int(v) for v in images[:, 0, 0, 0]]


def test_fills_first_then_replaces_exactly_half_batch() -> None:
    buf = HistoryBuffer(capacity=10, seed=0)
    buf.push(_batch(0, 4))
    assert len(buf) == 4 and not buf.full
    buf.push(_batch(4, 8))  # 6 fill the buffer, the other 2 replace random slots
    assert buf.full and len(buf) == 10
    before = _ids(buf.images)
    assert len(set(before) & set(range(10))) == 8 and {10, 11} <= set(before)
    # A full buffer: pushing b/2 = 3 images changes exactly 3 slots to exactly those images.
    buf.push(_batch(100, 3))
    after = _ids(buf.images)
    changed = [i for i in range(10) if before[i] != after[i]]
    assert len(changed) == 3 and sorted(after[i] for i in changed) == [100, 101, 102]
    assert len(buf) == 10


def test_sample_draws_distinct_stored_images() -> None:
    buf = HistoryBuffer(capacity=8, seed=1)
    buf.push(_batch(0, 8))
    s = buf.sample(4)
    assert s.shape == (4, 1, 2, 3) and len(set(_ids(s))) == 4 and set(_ids(s)) <= set(range(8))
    assert s.device.type == "cpu" and s.dtype == torch.float32
    s[:] = -1  # a sample is a copy: changing it leaves the buffer alone
    assert buf.images.min() >= 0


def test_sampling_is_uniform_over_the_buffer() -> None:
    buf = HistoryBuffer(capacity=6, seed=2)
    buf.push(_batch(0, 6))
    counts = torch.zeros(6)
    for _ in range(600):
        counts[torch.tensor(_ids(buf.sample(2)))] += 1
    assert counts.min() > 150 and counts.max() < 250  # expected 200 each


def test_state_round_trip_continues_identically() -> None:
    a = HistoryBuffer(capacity=6, seed=3)
    a.push(_batch(0, 6))
    raw = io.BytesIO()
    torch.save(a.state_dict(), raw)
    raw.seek(0)
    b = HistoryBuffer(capacity=6, seed=99)
    b.load_state_dict(torch.load(raw, weights_only=True))
    a.push(_batch(50, 3))
    b.push(_batch(50, 3))
    assert torch.equal(a.images, b.images) and torch.equal(a.sample(3), b.sample(3))


def test_errors() -> None:
    buf = HistoryBuffer(capacity=4)
    with pytest.raises(ValueError, match="empty"):
        buf.sample(2)
    buf.push(torch.zeros(2, 1, 2, 3))
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 1, 2, 3\), got \(2, 1, 3, 3\)"):
        buf.push(torch.zeros(2, 1, 3, 3))
    with pytest.raises(ValueError, match="cannot push 5"):
        buf.push(torch.zeros(5, 1, 2, 3))
    with pytest.raises(ValueError, match="capacity"):
        HistoryBuffer(capacity=0)
