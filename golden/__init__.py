"""Bit-accurate NumPy golden model, model files, conversion rules and datasets.

Imports numpy only (``golden.ann`` alone imports torch, for training and the torch front end).
"""
