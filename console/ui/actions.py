"""The main window's actions: one QAction each, with a shortcut, a tip and an accessible name.

Every action is also a command palette entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget


@dataclass(frozen=True)
class ActionSpec:
    name: str
    text: str
    tip: str
    shortcut: str | QKeySequence.StandardKey | None
    menu: str


SPECS = (
    ActionSpec("add_place", "&Add place…", "Add a local engine, serving host or Prometheus server", "Ctrl+N", "&Place"),
    ActionSpec("edit_place", "&Edit place…", "Edit the selected place", "Ctrl+E", "&Place"),
    ActionSpec("remove_place", "&Remove place", "Remove the selected place and its stored secret", "Ctrl+Shift+Del",
               "&Place"),
    ActionSpec("refresh", "&Refresh", "Read every place again now", "F5", "&View"),
    ActionSpec("filter", "&Filter inventory", "Type to filter endpoints and deployments of all places", "Ctrl+F",
               "&View"),
    ActionSpec("palette", "&Command palette…", "Jump to any place, endpoint or deployment, or run an action", "Ctrl+K",
               "&View"),
    ActionSpec("focus_places", "Go to &places", "Move the keyboard focus to the places", "Ctrl+1", "&View"),
    ActionSpec("focus_inventory", "Go to &inventory", "Move the keyboard focus to the inventory", "Ctrl+2", "&View"),
    ActionSpec("toggle_messages", "&Messages", "Show or hide the messages (errors and notices)", "Ctrl+M", "&View"),
    ActionSpec("copy_uri", "&Copy scoring URI", "Copy the selected endpoint's scoring URI", "Ctrl+Shift+C",
               "&Endpoint"),
    ActionSpec("edit_slo", "Edit &SLO…", "Set the selected endpoint's latency and error-rate objective (SLO)",
               "Ctrl+Shift+L", "&Endpoint"),
    ActionSpec("logs", "&Logs", "Follow the live logs of the selected deployment or endpoint", "Ctrl+L", "&View"),
    ActionSpec("open_log_file", "Open &log file…", "Open a local log file: text, JSON lines or .gz (or drop it on the "
               "window)", "Ctrl+O", "&File"),
    ActionSpec("approvals", "Pending &approvals",
               "Show or hide the proposals waiting for approval at every engine and connected cluster",
               "Ctrl+Shift+A", "&View"),
    ActionSpec("start_rollout", "Start &rollout from plan…", "Start a progressive rollout of the selected endpoint "
               "from a plan file (YAML)", "Ctrl+Alt+P", "&Endpoint"),
    ActionSpec("record", "Release re&cord…", "Export the selected endpoint's release record (Markdown or JSON)",
               "Ctrl+Alt+E", "&Endpoint"),
    ActionSpec("rollback", "Roll&back…", "Roll the selected endpoint back to its last known-good split (asks once)",
               "Ctrl+Shift+R", "&Endpoint"),
    ActionSpec("review_traffic", "Re&view traffic change…", "Preview the edited split of the selected endpoint: "
               "guards, expected load, command", "Ctrl+Shift+V", "&Endpoint"),
    ActionSpec("quit", "&Quit", "Quit the console (the local engine keeps running)", "Ctrl+Q", "&File"),
)


def build_actions(parent: QWidget, handlers: dict[str, Callable[[], object]]) -> dict[str, QAction]:
    actions: dict[str, QAction] = {}
    for spec in SPECS:
        action = QAction(spec.text, parent)
        action.setObjectName(f"action_{spec.name}")
        action.setToolTip(spec.tip)
        action.setStatusTip(spec.tip)
        if spec.shortcut:
            action.setShortcut(QKeySequence(spec.shortcut))
        handler = handlers.get(spec.name)
        if handler is not None:
            action.triggered.connect(lambda _checked=False, h=handler: h())
        actions[spec.name] = action
    return actions


def accessible_name(action: QAction) -> str:
    """QAction has no accessible name of its own; its text without '&' and its tip serve."""
    return f"{action.text().replace('&', '')}: {action.toolTip()}"
