"""gcnn's version, in one place (read by setuptools without importing gcnn)."""

__version__ = "0.2.0"
