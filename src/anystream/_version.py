"""The one place anystream's version is written.

The package metadata (hatch's version source in ``pyproject.toml``), ``anystream.__version__``,
``anystream --version`` and the NATS client's ``CONNECT`` all read it from here.
"""

__version__ = "0.1.0"
