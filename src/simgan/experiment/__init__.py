"""Experiments that answer the project's question: how much of the reality gap does refinement close?

``gap``: synthetic vs refined vs real training data, tested on the same real set (the paper's Tables 2-4).
"""
