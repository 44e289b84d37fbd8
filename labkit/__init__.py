"""labkit: a Jupyter lab kit for teaching neural network model interpretation.

Modules (one per concern): ``device``, ``layers``, ``datasets``, ``zoo``, and
the interpretation methods built on them. numpy in, numpy out.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # quiet TensorFlow's C++ logs

__version__ = "0.1.0"
