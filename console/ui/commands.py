"""What the command palette (Ctrl+K) offers: the window's actions, then every place,
endpoint and deployment as a jump, each followed by its own actions.

  place       refresh place, test connection, copy location, edit place…, remove place
  endpoint    copy scoring URI, refresh, show revision history, show audit events
  deployment  copy model name:version, copy details, refresh

Each endpoint's and deployment's entries form one PaletteGroup, made only when the query
matches it (10,000 deployments would otherwise mean 45,000 entries to build per change);
the groups are cached until a place, endpoint or deployment appears or goes away. An action
looks its item up when it runs, so it acts on the current state (or says the item is gone)
rather than on the state when the palette was built.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QGuiApplication

from console.backends.base import PlaceKind
from console.backends.places import PlaceConfig
from console.domain.models import DeploymentStatus, EndpointStatus
from console.ui.cluster.spec import PALETTE_WORDS as CLUSTER_WORDS
from console.ui.models.palette import PaletteEntry, PaletteGroup
from console.ui.models.tables import split_text

if TYPE_CHECKING:
    from console.ui.main_window import MainWindow

HISTORY_TAB, AUDIT_TAB = 0, 1
# Every fixed word of the entries' titles and details below, for their groups' search texts.
ENDPOINT_WORDS = ("start rollout from plan… a progressive yaml plan release record… export revisions, approvals, "
                  "rollouts copy scoring uri refresh read and the history again · show revision history audit events "
                  "endpoint at edit slo… latency error-rate objective rollback… restore the last known-good split "
                  "(asks once)") + " " + CLUSTER_WORDS  # Kubernetes places: console/ui/cluster
DEPLOYMENT_WORDS = ("copy model name:version details model, runtime, replicas, state, traffic · refresh read again "
                    "deployment of logs follow its (ctrl+l) replica this replica's lines only") + " " + CLUSTER_WORDS


class Commands:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.console = window.console
        self._cache_key: tuple[Any, ...] | None = None
        self._items: list[PaletteEntry | PaletteGroup] = []

    # ------------------------------------------------------------ entries
    def entries(self) -> list[PaletteEntry | PaletteGroup]:
        """The window's actions, then every item's group of entries (made when matched)."""
        actions: list[PaletteEntry | PaletteGroup] = [
            PaletteEntry("action", a.text().replace("&", ""), a.toolTip(), a.trigger, a.shortcut().toString())
            for a in self.window.window_actions.values()]
        return actions + self.item_groups()

    def all_entries(self) -> list[PaletteEntry]:
        """Every entry, each group made (for a look at all of them, not for the palette)."""
        return [e for item in self.entries()
                for e in (item.entries() if isinstance(item, PaletteGroup) else (item,))]

    def item_groups(self) -> list[PaletteEntry | PaletteGroup]:
        places = self.console.places_model.places()
        key = (self.console.inventory_model.structure_version, tuple((p.id, p.name, p.auto) for p in places))
        if key != self._cache_key:
            self._items = self._build(places)
            self._cache_key = key
        return self._items

    def _build(self, places: list[PlaceConfig]) -> list[PaletteEntry | PaletteGroup]:
        names = {p.id: p.name for p in places}
        items: list[PaletteEntry | PaletteGroup] = []
        for config in places:  # a few: their entries are made now
            items.extend(self._place_entries(config))
        for kind, key in self.console.inventory_model.walk():
            place_name = names.get(key[0], key[0])
            if kind == "endpoint":
                items.append(PaletteGroup(f"endpoint {key[1]} {place_name} {ENDPOINT_WORDS}".lower(),
                                          partial(self._endpoint_entries, key[0], key[1], place_name)))
            elif kind == "deployment":
                replicas = " ".join(self._replica_ids(key[0], key[1], key[2]))
                items.append(PaletteGroup(f"deployment {key[2]} {key[1]} · {place_name} {replicas} {DEPLOYMENT_WORDS}"
                                          .lower(),
                                          partial(self._deployment_entries, key[0], key[1], key[2], place_name)))
        return items

    def _place_entries(self, config: PlaceConfig) -> list[PaletteEntry]:
        where = config.state_dir or config.url or config.context or ""
        pid, name = config.id, config.name
        detail = f"{config.kind.value} place · {where}"
        entries = [PaletteEntry("place", name, where, partial(self.jump, pid))]
        entries.append(PaletteEntry("place", "refresh place", f"read it again now · {detail}",
                                    partial(self.console.refresh, pid), subject=name))
        entries.append(PaletteEntry("place", "test connection", f"report what answers, or the exact failure · {detail}",
                                    partial(self.console.test_connection, pid), subject=name))
        if where:
            entries.append(PaletteEntry("place", "copy location", f"copy {where}",
                                        partial(self.copy, where, f"the location of {name}"), subject=name))
        if config.kind == PlaceKind.KUBERNETES:
            entries.append(PaletteEntry("place", "context settings…", f"namespaces, read-only, permissions · {detail}",
                                        partial(self.window.edit_place, pid), subject=name))
        elif not config.auto:
            entries.append(PaletteEntry("place", "edit place…", detail, partial(self.window.edit_place, pid),
                                        subject=name))
        if not config.auto:
            entries.append(PaletteEntry("place", "remove place", f"asks first; deletes its stored secret · {detail}",
                                        partial(self.window.remove_place, pid), subject=name))
        return entries

    def _endpoint_entries(self, pid: str, name: str, place_name: str) -> list[PaletteEntry]:
        detail = f"endpoint at {place_name}"
        return [
            PaletteEntry("endpoint", name, place_name, partial(self.jump, pid, name)),
            PaletteEntry("endpoint", "copy scoring URI", detail, partial(self.copy_scoring_uri, pid, name),
                         subject=name),
            PaletteEntry("endpoint", "refresh", f"read {place_name} and the history again · {detail}",
                         partial(self.refresh_endpoint, pid, name), subject=name),
            PaletteEntry("endpoint", "show revision history", detail, partial(self.show_history, pid, name,
                                                                              HISTORY_TAB), subject=name),
            PaletteEntry("endpoint", "show audit events", detail, partial(self.show_history, pid, name, AUDIT_TAB),
                         subject=name),
            PaletteEntry("endpoint", "edit SLO…", f"latency and error-rate objective · {detail}",
                         partial(self.window.edit_slo, pid, name), subject=name),
            PaletteEntry("endpoint", "start rollout from plan…", f"a progressive rollout from a YAML plan · {detail}",
                         partial(self.window.start_rollout, None, pid, name), subject=name),
            PaletteEntry("endpoint", "release record…", f"export revisions, approvals, rollouts · {detail}",
                         partial(self.window.release_record, pid, name), subject=name),
            PaletteEntry("endpoint", "rollback…", f"restore the last known-good split (asks once) · {detail}",
                         partial(self.rollback, pid, name), subject=name),
            *self.window.cluster_actions.palette_entries(pid, name),
        ]

    def _deployment_entries(self, pid: str, endpoint: str, name: str, place_name: str) -> list[PaletteEntry]:
        detail = f"deployment of {endpoint} · {place_name}"
        return [
            PaletteEntry("deployment", name, f"{endpoint} · {place_name}", partial(self.jump, pid, endpoint, name)),
            PaletteEntry("deployment", "copy model name:version", detail,
                         partial(self.copy_model_version, pid, endpoint, name), subject=name),
            PaletteEntry("deployment", "copy details", f"model, runtime, replicas, state, traffic · {detail}",
                         partial(self.copy_details, pid, endpoint, name), subject=name),
            PaletteEntry("deployment", "refresh", f"read {place_name} again · {detail}",
                         partial(self.console.refresh, pid), subject=name),
            *self._log_entries(pid, endpoint, name, detail),
            *self.window.cluster_actions.palette_entries(pid, endpoint, name),
        ]

    def _replica_ids(self, pid: str, endpoint: str, name: str) -> list[str]:
        found = self.console.inventory_model.endpoint(pid, endpoint)
        deployment = next((d for d in found.deployments if d.name == name), None) if found else None
        return [r.id for r in deployment.replicas] if deployment else []

    def _log_entries(self, pid: str, endpoint: str, name: str, detail: str) -> list[PaletteEntry]:
        """Follow the deployment's logs, or one replica's (the inventory lists no replica rows)."""
        entries = [PaletteEntry("deployment", "logs", f"follow its logs (Ctrl+L) · {detail}",
                                partial(self.follow_logs, pid, endpoint, name, None), subject=name)]
        for replica in self._replica_ids(pid, endpoint, name):
            entries.append(PaletteEntry("deployment", f"logs of replica {replica}",
                                        f"follow this replica's lines only · {detail}",
                                        partial(self.follow_logs, pid, endpoint, name, replica), subject=name))
        return entries

    def follow_logs(self, place_id: str, endpoint: str, deployment: str, replica: str | None) -> None:
        if self.jump(place_id, endpoint, deployment):
            self.window.open_logs(replica=replica)

    # ------------------------------------------------------------ what they do
    def jump(self, place_id: str, endpoint: str | None = None, deployment: str | None = None) -> bool:
        self.window.places.select(place_id)
        found = self.window.inventory.select(place_id, endpoint, deployment)
        self.window.inventory.tree.setFocus()
        if not found:
            self._gone(place_id, endpoint, deployment)
        return found

    def copy(self, text: str, what: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.console.sink.report(f"copied {what}: {text}" if "\n" not in text else f"copied {what}", "info",
                                 "clipboard")

    def copy_scoring_uri(self, place_id: str, endpoint: str) -> None:
        found = self._endpoint(place_id, endpoint)
        if found is not None:
            self.copy(found.scoring_uri, f"the scoring URI of {endpoint}")

    def copy_model_version(self, place_id: str, endpoint: str, name: str) -> None:
        dep = self._deployment(place_id, endpoint, name)
        if dep is not None:
            self.copy(f"{dep.model.name}:{dep.model.version}", f"the model of {name}")

    def copy_details(self, place_id: str, endpoint: str, name: str) -> None:
        ep = self._endpoint(place_id, endpoint)
        dep = self._deployment(place_id, endpoint, name)
        if ep is not None and dep is not None:
            self.copy(deployment_details(dep, ep, self._place_name(place_id)), f"the details of {name}")

    def refresh_endpoint(self, place_id: str, endpoint: str) -> None:
        self.console.refresh(place_id)
        view = self.window.endpoint_view
        if view.endpoint is not None and (view.place_id, view.endpoint.name) == (place_id, endpoint):
            self.console.load_history(place_id, endpoint)

    def rollback(self, place_id: str, endpoint: str) -> None:
        self.jump(place_id, endpoint)
        self.window.traffic.rollback(place_id, endpoint)

    def show_history(self, place_id: str, endpoint: str, tab: int) -> None:
        if self.jump(place_id, endpoint):
            tabs = self.window.endpoint_view.history_tabs
            tabs.setCurrentIndex(tab)
            current = tabs.currentWidget()
            if current is not None:
                current.setFocus()

    # ------------------------------------------------------------ lookups at run time
    def _endpoint(self, place_id: str, endpoint: str) -> EndpointStatus | None:
        found = self.console.inventory_model.endpoint(place_id, endpoint)
        if found is None:
            self._gone(place_id, endpoint)
        return found

    def _deployment(self, place_id: str, endpoint: str, name: str) -> DeploymentStatus | None:
        found = self.console.inventory_model.deployment(place_id, endpoint, name)
        if found is None:
            self._gone(place_id, endpoint, name)
        return found

    def _place_name(self, place_id: str) -> str:
        config = self.console.place(place_id)
        return config.name if config else place_id

    def _gone(self, place_id: str, endpoint: str | None = None, deployment: str | None = None) -> None:
        what = deployment or endpoint or place_id
        self.console.sink.report(f"{what} is no longer listed at {self._place_name(place_id)}", "warning", "palette")


def deployment_details(dep: DeploymentStatus, ep: EndpointStatus, place_name: str) -> str:
    """A deployment as text for the clipboard (an incident note, a ticket)."""
    lines = [
        f"deployment: {dep.name}",
        f"endpoint: {ep.name} (revision {ep.revision}) at {place_name}",
        f"model: {dep.model.name}:{dep.model.version}" + (f" ({dep.model.path})" if dep.model.path else ""),
        f"runtime: {dep.runtime.value}",
        f"replicas: {dep.replicas_ready}/{dep.replicas_desired} ready",
        f"state: {dep.state.value}" + (f" ({dep.reason})" if dep.reason else ""),
        f"traffic: {ep.traffic.get(dep.name, 0)}%  mirror: {ep.mirror.get(dep.name, 0)}%",
        f"split: {split_text(ep.traffic)}",
        f"scoring URI: {ep.scoring_uri}",
        f"created: {dep.created.isoformat()}",
    ]
    return "\n".join(lines)
