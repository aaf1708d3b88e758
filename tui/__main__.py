"""``python -m tui``: the same as the ``dockyard`` command."""

from tui.cli import main

main(prog_name="dockyard")
