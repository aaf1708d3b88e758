"""Print a pip constraints file that pins every runtime dependency of pyproject.toml to the
lowest version it allows (``>=X`` or ``==X`` becomes ``==X``), for ``make test-min``; the
optional extras the tests install (``postgres``, ``dask``) are pinned the same way.

Only direct dependencies are pinned, like ``uv``'s ``lowest-direct`` resolution: what we
promise is that our lower bounds work; the libraries they pull in resolve as pip chooses.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

#: Optional extras whose lower bounds ``make test-min`` tests too (the ``test`` extra pulls them).
TESTED_EXTRAS = ("postgres", "dask")
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(\[[^\]]*\])?\s*(.*)$")
LOWER = re.compile(r"(?:>=|==|~=)\s*([0-9][^,;\s]*)")


def lowest_pins(pyproject: Path) -> list[str]:
    """``name==lowest`` for each runtime dependency; a dependency without a lower bound is
    an error, since its lowest version could be anything."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    pins = []
    extras = project.get("optional-dependencies", {})
    tested = [r for extra in TESTED_EXTRAS for r in extras.get(extra, [])]
    for requirement in [*project["dependencies"], *tested]:
        match = REQUIREMENT.match(requirement.split(";")[0])
        assert match is not None, requirement
        name, _extras, spec = match.groups()
        lower = LOWER.search(spec)
        if lower is None:
            raise SystemExit(f"{requirement!r} has no lower bound: add one (>=X) to pyproject.toml")
        pins.append(f"{name}=={lower.group(1)}")
    return pins


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    print("\n".join(lowest_pins(root / "pyproject.toml")))
