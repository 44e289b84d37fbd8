"""Benchmarks: attribution against the toy world's ground truth, and speed against floors and peers.

``python -m benchmarks.run`` (``make bench``) runs both and writes markdown
tables to ``benchmarks/results/``.
"""
