"""Exercise checks for the capstone notebook (re-exported by labkit.checks)."""
__all__: list = []
