"""Networks: the SimGAN refiner and discriminators, and the task networks.

Import from the submodules (``simgan.nn.refiner``, ``simgan.nn.discriminator``, ``simgan.nn.classifier``...).
"""
