"""Datasets: layout readers (registered by name), the simgan dataset writer, torch views.

Importing this package registers every layout, so :func:`open_dataset` can detect any of them.
"""

from simgan.data import folder, mpiigaze, nyu, simgan_dir, unityeyes  # noqa: F401  (registers the layouts)
from simgan.data.convert import convert
from simgan.data.images import from_float, read_image, to_float, write_png
from simgan.data.simgan_dir import DatasetWriter, SimganSource
from simgan.data.source import LAYOUTS, DatasetInfo, Sample, Source, open_dataset, register_layout
from simgan.data.summary import summarize
from simgan.data.torch_dataset import ImageDataset, label_to_target, make_loader

__all__ = [
    "LAYOUTS",
    "DatasetInfo",
    "DatasetWriter",
    "ImageDataset",
    "Sample",
    "SimganSource",
    "Source",
    "convert",
    "from_float",
    "label_to_target",
    "make_loader",
    "open_dataset",
    "read_image",
    "register_layout",
    "summarize",
    "to_float",
    "write_png",
]
