"""The ``dockyard`` command line, one module per noun (``runs.py``, ``data.py``, ...).

``root.py`` holds the top-level group and registers the nouns; ``kit.py`` the helpers
every command shares (the workspace context, output, exit status). The console script is
``dockyard.tui.cli:main``.
"""

from dockyard.tui.cli.root import main

__all__ = ["main"]
