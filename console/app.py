"""Entry of the console: `switchboard` with no subcommand calls `main(argv)`.

Options are parsed here; the Qt composition root is console/ui/run.py (only console/ui
imports Qt). Run `python -m console.app --help` for the options.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from console import __version__


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="switchboard", description="Switchboard: operations console for ML model "
                                "deployments. With no option it opens the console on the local engine, starting "
                                "the engine if needed (it keeps running after the console quits), applies the demo "
                                "if the engine is empty and sends demo traffic while the console runs.")
    p.add_argument("--version", action="version", version=f"switchboard {__version__}")
    p.add_argument("--state-dir", type=Path, default=None,
                   help="the local engine's state dir (default: the user data dir, e.g. "
                        "~/.local/share/switchboard/engine)")
    p.add_argument("--config-dir", type=Path, default=None,
                   help="the console's config dir: places.json and console.ini (default: the user config dir, "
                        "e.g. ~/.config/switchboard)")
    p.add_argument("--no-demo", action="store_true", help="do not apply the demo or start its traffic")
    p.add_argument("--screenshot", type=Path, default=None, metavar="PNG",
                   help="once the selected endpoint is shown, save the window as PNG (and PNG.json with the "
                        "visible widgets) and quit")
    return p


def parse(argv: list[str]) -> argparse.Namespace:
    args, _unknown = parser().parse_known_args(argv)
    return args


def main(argv: list[str]) -> int:
    """Parse the console's options and run it; returns the exit status."""
    args = parse(argv)
    from console.ui.run import run

    return run(args)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
