"""Training: the history buffer, the SimGAN refiner loop (Algorithm 1), the task loop, checkpoints.

Import from the submodules (``simgan.train.refiner``, ``simgan.train.task``, ...).
"""
