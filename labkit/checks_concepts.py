"""Exercise checks for the concepts notebook (re-exported by labkit.checks)."""
__all__: list = []
