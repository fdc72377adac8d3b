"""PCA / t-SNE maps of several datasets: shapes, reproducibility, class panel, task features, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from simgan.data import DatasetWriter, open_dataset
from simgan.data.embedded import DIGIT_CLASSES, load_sklearn_digits
from simgan.errors import InputError
from simgan.train.task import TaskConfig, train_task
from simgan.viz.embedding import compute_embedding, embed_2d, pixel_features, plot_embedding, visualize


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Labelled real digits, an unlabelled inverted copy (another 'domain'), and a 16x16 set."""
    root = tmp_path_factory.mktemp("embed")
    images, labels = load_sklearn_digits()
    with DatasetWriter(
        root / "real", height=8, width=8, channels=1, task="classify", classes=DIGIT_CLASSES
    ) as w:
        for k in range(150):
            w.add(f"r{k}", images[k], int(labels[k]))
    with DatasetWriter(root / "inv", height=8, width=8, channels=1) as w:
        for k in range(150, 250):
            w.add(f"i{k}", 255 - images[k])
    with DatasetWriter(root / "big", height=16, width=16, channels=1) as w:
        w.add("b0", np.zeros((16, 16, 1), np.uint8))
    return {"real": root / "real", "inv": root / "inv", "big": root / "big"}


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_same_seed_gives_identical_coordinates(sets: dict[str, Path], method: str) -> None:
    kw = {"method": method, "max_per_set": 80, "seed": 5}
    e1 = compute_embedding([sets["real"], sets["inv"]], **kw)
    e2 = compute_embedding([sets["real"], sets["inv"]], **kw)
    assert e1.coords.shape == (160, 2)
    np.testing.assert_array_equal(e1.coords, e2.coords)
    assert np.isfinite(e1.coords).all() and e1.coords.std(0).min() > 0


def test_domains_and_classes_are_recorded(sets: dict[str, Path]) -> None:
    emb = compute_embedding([sets["real"], sets["inv"]], names=["real", "inverted"], max_per_set=1000)
    assert emb.names == ("real", "inverted") and emb.classes == DIGIT_CLASSES
    assert (emb.dataset == 0).sum() == 150 and (emb.dataset == 1).sum() == 100
    assert (emb.labels[emb.dataset == 1] == -1).all()  # the inverted set is unlabelled
    real = open_dataset(sets["real"])
    assert sorted(emb.labels[emb.dataset == 0].tolist()) == sorted(int(real.label(i)) for i in range(150))
    # Inverted digits are far from the originals along the first principal axis.
    c = emb.coords[:, 0]
    assert abs(c[emb.dataset == 0].mean() - c[emb.dataset == 1].mean()) > 2 * c[emb.dataset == 0].std()


def test_embed_2d_known_value_for_pca() -> None:
    rng = np.random.default_rng(0)
    x = np.zeros((50, 3))
    x[:, 1] = rng.normal(size=50) * 10  # nearly all variance on one axis
    x[:, 2] = rng.normal(size=50) * 0.1
    y = embed_2d(x, "pca")
    assert abs(np.corrcoef(y[:, 0], x[:, 1])[0, 1]) > 0.9999  # the first axis is that direction
    with pytest.raises(InputError, match="unknown embedding method"):
        embed_2d(x, "umap")


def test_large_images_are_block_averaged(tmp_path: Path) -> None:
    with DatasetWriter(tmp_path / "d", height=130, width=100, channels=1, dtype="uint16") as w:
        w.add("a", np.full((130, 100, 1), 65535, np.uint16))
    feats = pixel_features(open_dataset(tmp_path / "d"), np.array([0]))
    assert feats.shape == (1, 1 * 44 * 34)  # factor ceil(130 / 64) = 3
    assert np.allclose(feats, 1.0)


def test_mixed_sizes_and_bad_names_are_refused(sets: dict[str, Path]) -> None:
    with pytest.raises(InputError, match=r"8x8x1.*16x16x1"):
        compute_embedding([sets["real"], sets["big"]])
    with pytest.raises(InputError, match="1 names for 2 datasets"):
        compute_embedding([sets["real"], sets["inv"]], names=["x"])


def test_plot_writes_a_png_with_two_panels(sets: dict[str, Path], tmp_path: Path) -> None:
    emb = compute_embedding([sets["real"], sets["inv"]], max_per_set=50)
    plot_embedding(emb, tmp_path / "map.png")
    with Image.open(tmp_path / "map.png") as im:
        assert im.format == "PNG" and im.size[0] > 1.5 * im.size[1]  # two panels side by side
    unlabelled = compute_embedding([sets["inv"]], max_per_set=50)
    plot_embedding(unlabelled, tmp_path / "one.png")
    with Image.open(tmp_path / "one.png") as im:
        assert im.size[0] < 1.5 * im.size[1]


def test_task_features_use_the_penultimate_layer(sets: dict[str, Path], tmp_path: Path) -> None:
    train_task(
        TaskConfig(epochs=1, min_steps=0, device="cpu"),
        [open_dataset(sets["real"])],
        None,
        tmp_path / "run",
        progress=False,
    )
    out = visualize(
        [sets["real"], sets["inv"]],
        tmp_path / "task.png",
        features="task",
        task_run=tmp_path / "run",
        max_per_set=40,
    )
    assert out["points"] == 80 and (tmp_path / "task.png").is_file()
    with pytest.raises(InputError, match="--task-run"):
        visualize([sets["real"]], tmp_path / "x.png", features="task")
