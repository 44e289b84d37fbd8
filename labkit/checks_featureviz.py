"""Exercise checks for the featureviz notebook (re-exported by labkit.checks)."""
__all__: list = []
