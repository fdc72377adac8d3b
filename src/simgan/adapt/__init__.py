"""Adaptation beyond pixels: gradient reversal and DANN's domain adversary (``grl``, ``dann``), the mean
teacher of self-training (``self_train``) and the semantic-consistency loss of label-consistent refinement
(``consistency``). The training loops that use them live in simgan.train.

Import from the submodules (``simgan.adapt.dann``, ...).
"""
