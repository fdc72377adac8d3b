"""2-D maps of several datasets at once (PCA or t-SNE), to *see* the gap between domains.

The lecture's recipe (MNIST: PCA to 2-D; t-SNE on a PCA-50 reduction) applied to simgan datasets:
synthetic, refined and real points drawn in one plane, coloured by dataset, and, where the datasets carry
class labels, a second panel coloured by class (marker = dataset). If refinement works, refined points
move toward the real cloud while each class stays together.

Features: ``pixels`` (images in [-1, 1], flattened; images whose longer side exceeds 64 px are first
block-averaged down to at most 64 px, which keeps the map's memory bounded for 224x224 depth maps) or
``task``: the penultimate-layer activations of a trained task model (see :func:`task_features`).
t-SNE (scikit-learn, Barnes-Hut, perplexity 30) runs on the first 50 principal components, for 1000
iterations (500 above 5000 points); both methods are reproducible for a given ``seed``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from torch import nn

from simgan.atomic import write_bytes
from simgan.data import ImageDataset, Source, make_loader, open_dataset
from simgan.errors import InputError
from simgan.nn.task_model import load_task_model

__all__ = [
    "METHODS",
    "MAX_PIXEL_SIDE",
    "Embedding",
    "pixel_features",
    "penultimate_layer",
    "task_features",
    "embed_2d",
    "compute_embedding",
    "plot_embedding",
    "visualize",
]

METHODS = ("pca", "tsne")
_METHOD_NAMES = {"pca": "PCA", "tsne": "t-SNE (on 50 principal components)"}
MAX_PIXEL_SIDE = 64
_TSNE_FULL_ITER_MAX_N = 5000  # above this many points t-SNE runs 500 instead of 1000 iterations
_MARKERS = ("o", "^", "s", "D", "v", "P", "X", "*", "<", ">")

FeatureFn = Callable[[Source, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Embedding:
    """A 2-D map of points from several datasets.

    Attributes:
        coords: (N, 2) map coordinates.
        dataset: (N,) index into ``names`` of each point's dataset.
        labels: (N,) index into ``classes`` of each point's class, -1 where unlabelled.
        names: the datasets' display names.
        classes: class names across the labelled datasets (empty when none is labelled).
        method: ``pca`` or ``tsne``.
        features: ``pixels`` or ``task``.
    """

    coords: np.ndarray
    dataset: np.ndarray
    labels: np.ndarray
    names: tuple[str, ...]
    classes: tuple[str, ...]
    method: str
    features: str


def _pool_factor(height: int, width: int) -> int:
    return max(1, -(-max(height, width) // MAX_PIXEL_SIDE))  # ceil division


@torch.no_grad()
def pixel_features(source: Source, indices: np.ndarray) -> np.ndarray:
    """Flattened pixels in [-1, 1], block-averaged so the longer side is at most 64 px.

    Shape:
        indices (N,) -> (N, C * h * w) float32.
    """
    f = _pool_factor(source.info.height, source.info.width)
    out = []
    for x, _ in make_loader(ImageDataset(source, indices), 256, shuffle=False):
        if f > 1:
            x = torch.nn.functional.avg_pool2d(x, f, ceil_mode=True)  # (B, C, ceil(H/f), ceil(W/f))
        out.append(x.flatten(1).numpy())
    return np.concatenate(out)


def penultimate_layer(model: nn.Module) -> nn.Module:
    """The task network's last layer, whose *input* is the penultimate-layer feature.

    Digit CNN and gaze CNN: the last Linear of ``head``; stacked hourglass: the last stack's 1x1
    heatmap convolution (its input is the last stack's feature map).
    """
    head = getattr(model, "head", None)
    if isinstance(head, nn.Sequential) and len(head):
        return head[-1]
    to_heatmaps = getattr(model, "to_heatmaps", None)
    if isinstance(to_heatmaps, nn.ModuleList) and len(to_heatmaps):
        return to_heatmaps[-1]
    raise InputError(f"cannot find the penultimate layer of a {type(model).__name__}")


def task_features(task_run: str | Path | None, device: str | torch.device = "cpu") -> FeatureFn:
    """A feature function: penultimate-layer activations of a ``train-task`` model (``RUN/best.pt``).

    Spatial feature maps (the hourglass) are averaged over space, so every point is one vector.
    """
    if task_run is None:
        raise InputError("--features task needs --task-run RUN (a train-task run folder or checkpoint)")
    path = Path(task_run)
    model, _ = load_task_model(path / "best.pt" if path.is_dir() else path, device)
    layer = penultimate_layer(model)

    @torch.no_grad()
    def features(source: Source, indices: np.ndarray) -> np.ndarray:
        captured: list[torch.Tensor] = []
        hook = layer.register_forward_hook(lambda _m, inputs, _o: captured.append(inputs[0].detach()))
        try:
            for x, _ in make_loader(ImageDataset(source, indices), 256, shuffle=False):
                model(x.to(device))
        except RuntimeError as e:
            raise InputError.at(source.info.path, f"the task model cannot read these images ({e})") from None
        finally:
            hook.remove()
        feats = [f.mean(dim=(-2, -1)) if f.ndim == 4 else f for f in captured]  # (B, D)
        return torch.cat(feats).float().cpu().numpy()

    return features


def embed_2d(x: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """Project points to 2-D with PCA, or with t-SNE on their first 50 principal components.

    Shape:
        x (N, D) -> (N, 2) float64.
    """
    if method not in METHODS:
        raise InputError(f"unknown embedding method {method!r} (choose from {', '.join(METHODS)})")
    if len(x) < 3:
        raise InputError(f"need at least 3 points for a 2-D map, got {len(x)}")
    x = np.asarray(x, dtype=np.float64)
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(x)
    reduced = PCA(n_components=min(50, x.shape[0], x.shape[1]), random_state=seed).fit_transform(x)
    perplexity = min(30.0, (len(x) - 1) / 3.0)  # t-SNE needs perplexity < N
    # Large maps settle well within 500 iterations (the lecture's MNIST example used 300); halving the
    # default 1000 keeps 10k points under 2 minutes on a 2-core CPU.
    max_iter = 1000 if len(x) <= _TSNE_FULL_ITER_MAX_N else 500
    tsne = TSNE(
        n_components=2, perplexity=perplexity, init="pca", random_state=seed, n_jobs=-1, max_iter=max_iter
    )
    return tsne.fit_transform(reduced)


def _class_names(src: Source) -> tuple[str, ...] | None:
    info = src.info
    return info.classes if info.task == "classify" and info.classes else None


def compute_embedding(
    data: Sequence[str | Path | Source],
    *,
    names: Sequence[str] | None = None,
    method: str = "pca",
    features: str = "pixels",
    feature_fn: FeatureFn | None = None,
    max_per_set: int = 2000,
    seed: int = 0,
) -> Embedding:
    """Sample up to ``max_per_set`` images of each dataset, featurize them and map them to 2-D.

    Args:
        data: dataset folders (any layout) or opened sources.
        names: display names (default: the folder names).
        method: ``pca`` or ``tsne``.
        features: a label for the feature kind (``pixels`` or ``task``).
        feature_fn: ``fn(source, indices) -> (N, D)``; default :func:`pixel_features`.
        max_per_set: the per-dataset cap (a seeded random subset).
        seed: subset choice and the embedding's randomness.

    Raises:
        InputError: no datasets, names of the wrong count, pixel features of different image sizes.
    """
    if not data:
        raise InputError("no datasets given (use --data DIR, once per dataset)")
    if max_per_set < 1:
        raise InputError(f"max_per_set must be >= 1, got {max_per_set}")
    sources = [d if isinstance(d, Source) else open_dataset(d) for d in data]
    if names is None or len(names) == 0:
        names = [s.info.path.name or str(s.info.path) for s in sources]
    if len(names) != len(sources):
        raise InputError(f"got {len(names)} names for {len(sources)} datasets (give one --name per --data)")
    if feature_fn is None:
        feature_fn = pixel_features
        shapes = {(s.info.height, s.info.width, s.info.channels) for s in sources}
        if len(shapes) > 1:
            listing = ", ".join(
                f"{s.info.path} {s.info.height}x{s.info.width}x{s.info.channels}" for s in sources
            )
            raise InputError(f"pixel features need one image size and channel count, got {listing}")

    rng = np.random.default_rng(seed)
    classes: list[str] = []
    feats, ds_idx, labels = [], [], []
    for k, src in enumerate(sources):
        n = min(len(src), max_per_set)
        idx = np.sort(rng.choice(len(src), n, replace=False))
        feats.append(np.asarray(feature_fn(src, idx), dtype=np.float32))  # (n, D)
        ds_idx.append(np.full(n, k))
        names_k = _class_names(src)
        if names_k is None:
            labels.append(np.full(n, -1))
            continue
        # Classes are matched by name across datasets, so "3" is one colour in every set.
        for c in names_k:
            if c not in classes:
                classes.append(c)
        remap = np.asarray([classes.index(c) for c in names_k])
        labels.append(remap[[int(src.label(int(i))) for i in idx]])
    coords = embed_2d(np.concatenate(feats), method, seed)
    return Embedding(
        coords=coords,
        dataset=np.concatenate(ds_idx),
        labels=np.concatenate(labels),
        names=tuple(names),
        classes=tuple(classes),
        method=method,
        features=features,
    )


def plot_embedding(emb: Embedding, out: str | Path, *, title: str | None = None, seed: int = 0) -> None:
    """Scatter plot(s) of an embedding to a PNG: by dataset, and by class when any point has one."""
    by_class = bool((emb.labels >= 0).any())
    fig = Figure(figsize=(13 if by_class else 7, 6), dpi=100, layout="constrained")
    axes = fig.subplots(1, 2 if by_class else 1, squeeze=False)[0]
    # Draw points in a random order so no dataset is painted entirely on top of another.
    order = np.random.default_rng(seed).permutation(len(emb.coords))
    size = float(np.clip(20000.0 / len(order), 2.0, 20.0))
    colors = [f"C{k % 10}" for k in range(len(emb.names))]
    ax = axes[0]
    ax.scatter(
        emb.coords[order, 0],
        emb.coords[order, 1],
        s=size,
        alpha=0.6,
        linewidths=0,
        c=[colors[d] for d in emb.dataset[order]],
    )
    for k, name in enumerate(emb.names):
        ax.scatter([], [], s=30, c=colors[k], label=f"{name} ({int((emb.dataset == k).sum())})")
    ax.legend(loc="best", fontsize=8, markerscale=1.0)
    ax.set_title("by dataset")
    if by_class:
        ax = axes[1]
        cmap = colormaps["tab10" if len(emb.classes) <= 10 else "tab20"]
        class_colors = [cmap(c % cmap.N) for c in range(len(emb.classes))]
        for k in range(len(emb.names)):
            sel = order[(emb.dataset[order] == k) & (emb.labels[order] >= 0)]
            if len(sel):
                ax.scatter(
                    emb.coords[sel, 0],
                    emb.coords[sel, 1],
                    s=size * 1.5,
                    alpha=0.7,
                    linewidths=0,
                    c=[class_colors[c] for c in emb.labels[sel]],
                    marker=_MARKERS[k % len(_MARKERS)],
                )
        handles = [
            Line2D([], [], linestyle="", marker=_MARKERS[k % len(_MARKERS)], color="0.4", label=name)
            for k, name in enumerate(emb.names)
            if ((emb.dataset == k) & (emb.labels >= 0)).any()
        ]
        handles += [
            Line2D([], [], linestyle="", marker="o", color=class_colors[c], label=f"class {name}")
            for c, name in enumerate(emb.classes)
        ]
        ax.legend(handles=handles, loc="best", fontsize=8, ncols=2)
        ax.set_title("by class (marker = dataset)")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title or f"{_METHOD_NAMES[emb.method]} of {emb.features}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_bytes(out, buf.getvalue())


def visualize(
    data: Sequence[str | Path],
    out: str | Path,
    *,
    names: Sequence[str] | None = None,
    method: str = "pca",
    features: str = "pixels",
    task_run: str | Path | None = None,
    max_per_set: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """``simgan visualize``: compute the embedding and write the PNG; returns a summary."""
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise InputError.at(out, "the output must be a .png file")
    feature_fn: FeatureFn | None = None
    if features == "task":
        feature_fn = task_features(task_run)
    elif features != "pixels":
        raise InputError(f"unknown features {features!r} (choose pixels or task)")
    emb = compute_embedding(
        data,
        names=names,
        method=method,
        features=features,
        feature_fn=feature_fn,
        max_per_set=max_per_set,
        seed=seed,
    )
    plot_embedding(emb, out, seed=seed)
    return {
        "out": str(out),
        "method": method,
        "features": features,
        "points": int(len(emb.coords)),
        "datasets": {name: int((emb.dataset == k).sum()) for k, name in enumerate(emb.names)},
        "classes": list(emb.classes),
    }
