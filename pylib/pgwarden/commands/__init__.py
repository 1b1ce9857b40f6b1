"""The commands of the ``pgwarden`` command line, one module each."""
