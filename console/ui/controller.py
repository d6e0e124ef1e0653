"""Console: the places the person works with, their backends, monitors and item models.

Lives on the GUI thread. All I/O goes through the TaskRunner; results arrive as
callbacks on the GUI thread and become model updates or signals.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from console.backends import launcher
from console.backends.audit_log import FILE_NAME, ConsoleAuditLog
from console.backends.base import Backend, PlaceKind, ProbeResult, SupportsHistory
from console.backends.credentials import CredentialStore
from console.backends.engine import EngineBackend
from console.backends.identity import IdentityError, load_identity
from console.backends.places import PlaceConfig, PlacesStore, UrlBackend, kube_contexts
from console.backends.prometheus import PrometheusBackend
from console.backends.serving import ServingBackend
from console.ui.errors import ErrorSink
from console.ui.models.inventory import InventoryModel
from console.ui.models.places import PlacesTreeModel
from console.ui.models.rows import PreparedInventory
from console.ui.monitor import Health, PlaceMonitor
from console.ui.tasks import TaskRunner
from console.ui.telemetry_feed import TelemetryFeed

BackendFactory = Callable[[PlaceConfig], Backend]
NO_CLUSTER_TELEMETRY = "none: link a Prometheus place to this context"  # its label mapping's Kubernetes context


def engine_place_id(state_dir: Path) -> str:
    return "engine-" + hashlib.sha256(str(Path(state_dir).resolve()).encode()).hexdigest()[:10]


class Console(QObject):
    sig_engine_ready = Signal(str)  # place id of a local engine that was found or started
    sig_history_loaded = Signal(str, str, object, object)  # place id, endpoint, revisions, audit events
    sig_places_changed = Signal()

    def __init__(self, runner: TaskRunner, sink: ErrorSink, credentials: CredentialStore, store: PlacesStore,
                 backend_factory: BackendFactory | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.sink = sink
        self.credentials = credentials
        self.store = store
        self.places_model = PlacesTreeModel(self)
        self.inventory_model = InventoryModel(self)
        self.monitors: dict[str, PlaceMonitor] = {}
        self.telemetry = TelemetryFeed(runner, parent=self)  # live telemetry of every place
        self.audit_log = ConsoleAuditLog(store.config_dir / FILE_NAME)  # actions on places that keep no log
        self._closing: list[Backend] = []  # backends of dropped places whose close has not run yet
        self.identity = self._load_identity()  # sent to engines: approval needs another identity
        self._factory = backend_factory or self.make_backend
        self._demo: launcher.DemoTraffic | None = None
        self._staleness = QTimer(self)
        self._staleness.setInterval(1000)
        self._staleness.timeout.connect(self._on_staleness_timeout)
        self._staleness.start()
        runner.sig_task_failed.connect(sink._on_task_failed)

    # ------------------------------------------------------------ backends
    def _load_identity(self) -> str | None:
        try:
            return load_identity(self.store.config_dir, "console")
        except IdentityError as exc:
            self.sink.report(f"{exc}; engine calls go without a console identity", "warning", "identity")
            return None

    def make_backend(self, config: PlaceConfig) -> Backend:
        if config.kind == PlaceKind.ENGINE:
            return EngineBackend(config.id, Path(config.state_dir or launcher.default_state_dir()),
                                 identity=self.identity)
        if config.kind == PlaceKind.KUBERNETES:
            from console.backends.kubernetes.backend import KubernetesBackend  # the client loads on first use
            return KubernetesBackend(config, audit_log=self.audit_log)
        if config.kind == PlaceKind.PROMETHEUS:
            return PrometheusBackend(config, secret=self.credentials.get)
        if config.kind == PlaceKind.SERVING:
            return ServingBackend(config, secret=self.credentials.get)
        return UrlBackend(config, secret=self.credentials.get)

    def backend(self, place_id: str) -> Backend | None:
        monitor = self.monitors.get(place_id)
        return monitor.backend if monitor else None

    def place(self, place_id: str) -> PlaceConfig | None:
        return next((p for p in self.places_model.places() if p.id == place_id), None)

    # ------------------------------------------------------------ places
    def load(self, engine_dir: Path | None) -> str | None:
        """Configured places, kubeconfig contexts, and the local engine place (returned)."""
        try:
            configured = self.store.load()
        except Exception as exc:
            self.sink.report_exception(exc, "places")
            configured = []
        for problem in getattr(self.store, "problems", []):
            self.sink.report(problem, "warning", "places")
        auto_engine: str | None = None
        engines = [p for p in configured if p.kind == PlaceKind.ENGINE]
        if engine_dir is not None or not engines:
            state_dir = Path(engine_dir or launcher.default_state_dir())
            pid = engine_place_id(state_dir)
            if not any(p.id == pid for p in configured):
                configured.insert(0, PlaceConfig(id=pid, kind=PlaceKind.ENGINE, name="Local engine",
                                                 state_dir=str(state_dir), auto=True))
            auto_engine = pid
        problems: list[str] = []
        for name, path in kube_contexts(problems=problems):
            if any(p.id == f"kube-{name}" for p in configured):
                continue  # its saved settings (namespaces, read-only) come first
            configured.append(PlaceConfig(id=f"kube-{name}", kind=PlaceKind.KUBERNETES, name=name, context=name,
                                          kubeconfig=path, auto=True))
        for problem in problems:
            self.sink.report(problem, "warning", "places")
        for config in configured:
            self.add_place(config, persist=False, start=config.id != auto_engine)
        return auto_engine

    def add_place(self, config: PlaceConfig, persist: bool = True, start: bool = True) -> None:
        self.places_model.upsert(config)
        backend = self._factory(config)
        where = config.state_dir or config.url or config.context or ""
        self.inventory_model.add_place(config.id, config.name, config.kind.value, where, backend.freshness_s)
        monitor = PlaceMonitor(backend, self.runner, parent=self)
        monitor.sig_inventory_prepared.connect(self._on_monitor_inventory_prepared)
        monitor.sig_health_changed.connect(self._on_monitor_health_changed)
        self.monitors[config.id] = monitor
        if config.kind == PlaceKind.KUBERNETES and (config.auto or not persist):
            # Contexts found in kubeconfig are many and may be slow or expired: each is connected
            # when the person selects it (connect_place), not at start; one whose settings were
            # just saved is connected now.
            self.places_model.set_health(config.id, Health(
                "on-demand", error="select this context to connect to its cluster"))
        elif start:
            monitor.start()
            self.telemetry.start(config.id, backend)
        if config.kind == PlaceKind.PROMETHEUS and config.prometheus is not None and config.prometheus.cluster:
            cluster = f"kube-{config.prometheus.cluster}"
            self.telemetry.relay(config.id, cluster)
            self.telemetry.sig_source_changed.emit(cluster, f"from the Prometheus place {config.name}")
        if config.kind == PlaceKind.KUBERNETES:
            found = [self._name(p) for p in self.telemetry.relayed_to(config.id)]
            self.telemetry.sig_source_changed.emit(
                config.id, f"from the Prometheus place {', '.join(found)}" if found else NO_CLUSTER_TELEMETRY)
        if persist:
            self.save()
        self.sig_places_changed.emit()

    def update_place(self, config: PlaceConfig) -> None:
        self._drop(config.id)
        self.add_place(config)

    def remove_place(self, place_id: str) -> None:
        config = self.place(place_id)
        self._drop(place_id)
        self.places_model.remove(place_id)
        if config is not None and config.secret_ref:
            self.delete_secret(config.secret_ref, config.name)
        self.save()
        if config is not None and config.kind == PlaceKind.KUBERNETES and not config.auto and any(
                name == config.context for name, _path in kube_contexts()):
            # its saved settings are gone; the context itself is still in kubeconfig
            self.add_place(config.model_copy(update={"namespaces": None, "read_only": False, "auto": True}),
                           persist=False)
        self.sig_places_changed.emit()

    def delete_secret(self, ref: str, owner: str) -> None:
        """Delete a secret from the keyring on a worker (an unlock prompt must not block the GUI)."""

        def failed(error: BaseException) -> None:
            self.sink.report(f"the secret of {owner} could not be deleted from the keyring: {error}", "error",
                             "credentials")

        self.runner.submit(self.credentials.delete, ref, on_error=failed, name=f"delete the secret of {owner}")

    def test_connection(self, place_id: str) -> None:
        """Probe a place on a worker; the outcome (or the exact failure) goes to the messages."""
        config = self.place(place_id)
        if config is None:
            return
        monitored = self.backend(place_id)
        backend = monitored if monitored is not None else self._factory(config)

        def work() -> ProbeResult:
            try:
                return backend.probe()
            finally:
                if monitored is None:
                    backend.close()

        def done(result: ProbeResult) -> None:
            if result.ok:
                self.sink.report(f"{config.name}: connected: {result.message}", "info", "test connection")
            else:
                self.sink.report(f"{config.name}: failed ({result.kind}): {result.message}", "error",
                                 "test connection")

        self.sink.report(f"testing the connection to {config.name}…", "info", "test connection")
        self.runner.submit(work, on_done=done, name=f"test connection to {config.name}")

    def _drop(self, place_id: str) -> None:
        self.telemetry.stop(place_id)
        config = self.place(place_id)
        self.telemetry.relay(place_id, None)
        if config is not None and config.prometheus is not None and config.prometheus.cluster:
            cluster = f"kube-{config.prometheus.cluster}"
            if not self.telemetry.relayed_to(cluster):
                self.telemetry.sig_source_changed.emit(cluster, NO_CLUSTER_TELEMETRY)
        monitor = self.monitors.pop(place_id, None)
        if monitor is not None:
            monitor.stop()
            self._close_later(monitor.backend, self._name(place_id))
            monitor.deleteLater()
        self.inventory_model.remove_place(place_id)

    def _close_later(self, backend: Backend, name: str) -> None:
        """Close on a worker (a cluster's close stops its watch threads, up to a few seconds); one still
        waiting when the console shuts down is closed then, so no client or thread outlives it."""
        self._closing.append(backend)

        def closed(_result: object = None) -> None:
            if backend in self._closing:
                self._closing.remove(backend)

        self.runner.submit(backend.close, on_done=closed, on_error=closed, name=f"close {name}")

    def save(self) -> None:
        try:
            self.store.save([p for p in self.places_model.places() if not p.auto])
        except Exception as exc:
            self.sink.report_exception(exc, "places")

    def connect_place(self, place_id: str) -> None:
        """Read a place that waits to be asked (a Kubernetes context from kubeconfig): now, then on schedule."""
        monitor = self.monitors.get(place_id)
        if monitor is not None and monitor.health.state == "loading" and not monitor.in_flight():
            monitor.start()

    def refresh(self, place_id: str | None = None) -> None:
        for pid, monitor in self.monitors.items():
            if place_id is None or pid == place_id:
                monitor.refresh_now()

    # ------------------------------------------------------------ monitor callbacks
    def _on_monitor_inventory_prepared(self, prepared: PreparedInventory) -> None:
        self.inventory_model.apply_snapshot(prepared)

    def _on_monitor_health_changed(self, place_id: str, health: Health) -> None:
        self.places_model.set_health(place_id, health)
        self.inventory_model.set_place_health(place_id, health.state)
        monitor = self.monitors.get(place_id)
        if health.state == "connected" and monitor is not None:
            self.telemetry.start(place_id, monitor.backend)  # first read, or back: retry telemetry now
        if health.state == "unreachable" and health.failures == 3:
            self.sink.report(f"{self._name(place_id)} is unreachable: {health.error}", "warning", "places")

    def _on_staleness_timeout(self) -> None:
        self.inventory_model.update_staleness()
        self.places_model.refresh_countdowns()

    def _name(self, place_id: str) -> str:
        config = self.place(place_id)
        return config.name if config else place_id

    # ------------------------------------------------------------ the local engine
    def launch_local(self, place_id: str, demo: bool, demo_spec: Path | None = None) -> None:
        """Find or start the engine of `place_id` (off the GUI thread), apply the demo if empty."""
        config = self.place(place_id)
        monitor = self.monitors.get(place_id)
        if config is None or monitor is None or not config.state_dir:
            return
        state_dir = Path(config.state_dir)
        monitor.set_health(Health("starting", error="finding or starting the local engine"))

        def work() -> tuple[bool, bool]:
            engine, started = launcher.ensure_engine(state_dir)
            applied = launcher.ensure_demo(engine, demo_spec) if demo else False
            return started, applied

        def done(result: tuple[bool, bool]) -> None:
            started, applied = result
            if started:
                self.sink.report(f"started the local engine in {state_dir}", "info", "engine")
            if applied:
                self.sink.report("applied the demo endpoint 'fraud'", "info", "engine")
            if demo:
                self._demo = launcher.DemoTraffic(state_dir)
                try:
                    self._demo.start()
                except OSError as exc:
                    self.sink.report_exception(exc, "demo traffic")
            monitor.start()
            self.sig_engine_ready.emit(place_id)

        def failed(error: BaseException) -> None:
            self.sink.report(f"the local engine could not be started: {error}", "error", "engine")
            monitor.start()

        self.runner.submit(work, on_done=done, on_error=failed, name="start the local engine")

    # ------------------------------------------------------------ endpoint history
    def load_history(self, place_id: str, endpoint: str) -> None:
        backend = self.backend(place_id)
        if not isinstance(backend, SupportsHistory):
            self.sig_history_loaded.emit(place_id, endpoint, [], [])
            return

        def work() -> tuple[Any, Any]:
            events = [e for e in backend.audit(0) if e.endpoint == endpoint]
            return backend.revisions(endpoint), events

        def done(result: tuple[Any, Any]) -> None:
            self.sig_history_loaded.emit(place_id, endpoint, result[0], result[1])

        def failed(error: BaseException) -> None:
            self.sink.report(f"history of {endpoint}: {error}", "warning", "history")

        self.runner.submit(work, on_done=done, on_error=failed, name=f"history of {endpoint}")

    # ------------------------------------------------------------ quit
    def shutdown(self, timeout_s: float = 1.5) -> bool:
        self._staleness.stop()
        self.telemetry.shutdown()
        for monitor in self.monitors.values():
            monitor.stop()
        for monitor in self.monitors.values():
            monitor.backend.close()
        if self._demo is not None:
            self._demo.stop(timeout=0.5)
        idle = self.runner.shutdown(timeout_s)
        for backend in list(self._closing):  # the runner dropped queued closes (a finished one closes twice: fine)
            backend.close()
        self._closing.clear()
        return idle
