"""Simulators with free labels and domain randomization, registered by name.

Importing this package imports every simulator module in it (each registers itself), so
``SIMULATORS`` lists them all.
"""

import importlib
import pkgutil

from simgan.sim.registry import (
    BATCH,
    SIMULATORS,
    TARGETS,
    Simulator,
    get_simulator,
    register_simulator,
    simulate,
)

# Modules that register nothing: the contract, the copyable example, and shared building blocks.
_NOT_PLUGINS = {
    "registry",
    "template",
    "randomize",
    "font_atlas",
    "hand_model",
    "kinect_noise",
    "camera_noise",
}
for _m in pkgutil.iter_modules(__path__):
    if _m.name not in _NOT_PLUGINS and not _m.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["BATCH", "SIMULATORS", "TARGETS", "Simulator", "get_simulator", "register_simulator", "simulate"]
