"""The ``frontdesk`` command line (``main``), one module per command group."""
