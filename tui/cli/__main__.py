"""``python -m dockyard.tui.cli``: the same as the ``dockyard`` command."""

from dockyard.tui.cli import main

main(prog_name="dockyard")
