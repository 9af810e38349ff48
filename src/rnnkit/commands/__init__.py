"""Sub-commands of the ``rnnkit`` command line, one module each (see ``rnnkit.cli``)."""
