"""tinyaccel: hardware/software co-design of ML accelerators. See README.md and docs/."""
__version__ = "0.1.0"
