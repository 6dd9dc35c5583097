"""sbs: side-by-side upgrades of an OpenStack control plane."""

__version__ = "0.1.0"
