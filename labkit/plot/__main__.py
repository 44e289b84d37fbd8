"""``python -m labkit.plot [out_dir]`` (``make figures``): save the toy-world pictures, print their paths."""

import sys

from labkit.plot.figures import save_figures

if __name__ == "__main__":
    for path in save_figures(sys.argv[1] if len(sys.argv) > 1 else "figures"):
        print(path)
