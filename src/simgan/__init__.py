"""simgan: learning from simulated and unsupervised images.

Simulate labelled images, refine them with unlabelled real images (SimGAN, Shrivastava et al. 2017),
train task models on them, and measure the reality gap.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
