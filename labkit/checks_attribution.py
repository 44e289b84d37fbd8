"""Exercise checks for the attribution notebook (re-exported by labkit.checks)."""
__all__: list = []
