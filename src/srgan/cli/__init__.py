"""The ``srgan`` command line (``srgan.cli.main``); nothing imports it."""
