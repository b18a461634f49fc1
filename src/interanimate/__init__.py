"""InterAnimate: region-aware hand-face interaction animation and the InterHF dataset toolchain."""

__version__ = "0.1.0"

__all__ = ["__version__"]
