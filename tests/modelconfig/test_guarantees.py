"""The guarantees of model configuration, written once and run on every backend: SSM Parameter Store (moto),
Azure App Configuration (the in-process fake, through the official SDK and provider) and an in-memory store
with an exact compare-and-swap. The cores (`ReleaseManager`, `ModelConfigLoader`) keep them; a backend only
supplies storage primitives, so one scenario must hold on all three. What only one store has (SSM's version
eviction, Azure's snapshots and provider) is tested next to that store (`test_releases`, `tests/azureconfig`)."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ml_infra.modelconfig import (
    ConcurrentChangeError,
    ConfigUnavailableError,
    ConfigValidationError,
    CorruptDocumentError,
    EncryptedFileSnapshot,
    InvalidInputError,
    ModelConfigError,
    ModelConfigLoader,
    ReleaseExistsError,
    ReleaseManager,
    UnknownReleaseError,
)
from ml_infra.modelconfig.layout import (
    KeySchema,
    ModelSchema,
    ReleasedKey,
    ReleaseDocument,
    active_release_parameter_name,
    pointer_for,
    release_parameter_name,
)

from .conftest import ENV, NO_SLEEP, PROJECT, Faults, seed_model, ssm
from .conftest import manager as ssm_manager
from .memory_backend import MemoryBackend

MODEL = "ranker"
SCHEMA = {
    "limit": KeySchema(ssm_type="String", value_type="integer", minimum=1, maximum=100),
    "mode": KeySchema(ssm_type="String", value_type="string", allowed_values=["fast", "exact"]),
    "features": KeySchema(ssm_type="StringList", value_type="list"),
}
VALUES = {"limit": "10", "mode": "fast", "features": "a,b"}


class Store:
    """One backend under test: operators, loaders, and the faults a test injects into the store itself."""

    name: str
    source: str
    exact: bool  # swap_pointer is an exact compare-and-swap (of two writers from one revision, one fails)

    def manager(self, who: str = "alice") -> ReleaseManager:
        raise NotImplementedError

    def loader(self, **kwargs: Any) -> ModelConfigLoader:
        raise NotImplementedError

    def outage(self, down: bool) -> None:
        raise NotImplementedError

    def destroy_release(self, release_id: str) -> None:
        """The store loses a release (SSM: its parameter deleted; Azure: the snapshot expired)."""
        raise NotImplementedError

    def hand_edit_pointer(self) -> None:
        """Someone writes the pointer by hand, around the library."""
        raise NotImplementedError


class SsmStore(Store):
    name, source, exact = "ssm", "ssm", False

    def __init__(self) -> None:
        self.client = ssm()
        self.faults = Faults(self.client)  # the loaders' client: an outage is the applications' view
        seed_model(ssm(), MODEL, SCHEMA, VALUES)

    def manager(self, who: str = "alice") -> ReleaseManager:
        return ssm_manager(ssm())

    def loader(self, **kwargs: Any) -> ModelConfigLoader:
        return ModelConfigLoader(PROJECT, ENV, client=self.client, backoff=NO_SLEEP, **kwargs)

    def outage(self, down: bool) -> None:
        self.faults.add("outage") if down else self.faults.clear()

    def destroy_release(self, release_id: str) -> None:
        ssm().delete_parameter(Name=release_parameter_name(PROJECT, ENV, MODEL, release_id))

    def hand_edit_pointer(self) -> None:
        name = active_release_parameter_name(PROJECT, ENV, MODEL)
        ssm().put_parameter(Name=name, Value="{not a pointer", Type="String", Overwrite=True)


class AzureStore(Store):
    name, source, exact = "azure", "azure", True

    def __init__(self) -> None:
        from appconfig_fake import ENDPOINT, AppConfigState, FakeAppConfigTransport

        from ml_infra.modelconfig.azure_appconfig import AzureLayout

        self.endpoint = ENDPOINT
        self.state = AppConfigState()
        self.transport = FakeAppConfigTransport(self.state)
        self.layout = AzureLayout(PROJECT, ENV)
        schema = ModelSchema(project=PROJECT, environment=ENV, model=MODEL, keys=SCHEMA)
        self._put(self.layout.schema_key(MODEL), schema.model_dump_json(), "application/json")
        for key, value in VALUES.items():
            # As the Pulumi program seeds them: a list as a JSON array.
            if SCHEMA[key].value_type == "list":
                self._put(self.layout.key(MODEL, key), json.dumps(value.split(",")), "application/json")
            else:
                self._put(self.layout.key(MODEL, key), value, None)

    def client(self) -> Any:
        from appconfig_fake import StaticTokenCredential
        from azure.appconfiguration import AzureAppConfigurationClient

        from ml_infra.modelconfig.azure_appconfig import API_VERSION

        return AzureAppConfigurationClient(
            self.endpoint, StaticTokenCredential(), transport=self.transport, api_version=API_VERSION
        )

    def _put(self, key: str, value: str, content_type: str | None) -> None:
        from azure.appconfiguration import ConfigurationSetting

        setting = ConfigurationSetting(
            key=key, label=ENV, value=value, content_type=content_type, tags={"model": MODEL}
        )
        self.client().set_configuration_setting(setting)

    def manager(self, who: str = "alice") -> ReleaseManager:
        from ml_infra.modelconfig.azure_appconfig import AzureReleaseManager

        return AzureReleaseManager(
            PROJECT, ENV, client=self.client(), store=self.endpoint, identity=who, backoff=NO_SLEEP
        )

    def loader(self, **kwargs: Any) -> ModelConfigLoader:
        from appconfig_fake import StaticTokenCredential

        from ml_infra.modelconfig.azure_appconfig import AzureConfigLoader

        return AzureConfigLoader(
            PROJECT,
            ENV,
            endpoint=self.endpoint,
            credential=StaticTokenCredential(),
            transport=self.transport,
            retry_total=1,
            startup_timeout=1,
            backoff=NO_SLEEP,
            **kwargs,
        )

    def outage(self, down: bool) -> None:
        self.transport.outage = down

    def destroy_release(self, release_id: str) -> None:
        self.state.expire_snapshot(self.layout.snapshot_name(MODEL, release_id))

    def hand_edit_pointer(self) -> None:
        self._put(self.layout.pointer_key(MODEL), "r1", None)  # plain text: the provider would not follow it


class MemoryStore(Store):
    name, source, exact = "memory", "store", True

    def __init__(self) -> None:
        self.backend = MemoryBackend()
        schema = ModelSchema(project=PROJECT, environment=ENV, model=MODEL, keys=SCHEMA)
        self.backend.documents[self.backend.schema_location(MODEL)] = (schema.model_dump_json(), "s1")
        keys = {key: self.backend.write_value(MODEL, key, value, SCHEMA[key]) for key, value in VALUES.items()}
        initial = ReleaseDocument(
            release_id="initial",
            project=PROJECT,
            environment=ENV,
            model=MODEL,
            keys={key: ReleasedKey(version=v, ssm_type=SCHEMA[key].ssm_type) for key, v in keys.items()},
        )
        text = initial.model_dump_json()
        self.backend.create_release(MODEL, "initial", text)
        self.backend.swap_pointer(MODEL, pointer_for(initial, text).model_dump_json(), None)

    def manager(self, who: str = "alice") -> ReleaseManager:
        return ReleaseManager(PROJECT, ENV, backend=self.backend, backoff=NO_SLEEP)

    def loader(self, **kwargs: Any) -> ModelConfigLoader:
        return ModelConfigLoader(PROJECT, ENV, backend=self.backend, backoff=NO_SLEEP, **kwargs)

    def outage(self, down: bool) -> None:
        self.backend.down = down

    def destroy_release(self, release_id: str) -> None:
        self.backend.documents.pop(self.backend.release_location(MODEL, release_id))

    def hand_edit_pointer(self) -> None:
        self.backend.documents[self.backend.pointer_location(MODEL)] = ("{not a pointer", "edited")


@pytest.fixture(params=["ssm", "azure", "memory"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """Each backend with model `ranker` seeded as its deployment seeds it, and release r1 cut and active."""
    if request.param == "ssm":
        request.getfixturevalue("aws")
        chosen: Store = SsmStore()
    elif request.param == "azure":
        import azure.appconfiguration.provider._utils as provider_utils

        # The provider holds a failed cold load until the process has been up 5 s (see tests/azureconfig).
        monkeypatch.setattr(provider_utils, "min_uptime", 0)
        chosen = AzureStore()
    else:
        chosen = MemoryStore()
    operator = chosen.manager()
    operator.create_release(MODEL, "r1")
    operator.activate(MODEL, "r1")
    yield chosen


def _cut(store: Store, release_id: str, **values: str) -> None:
    operator = store.manager()
    operator.set_values(MODEL, values)
    operator.create_release(MODEL, release_id)


def test_release_activate_rollback_round_trip(store: Store) -> None:
    operator, loader = store.manager(), store.loader(ttl_seconds=0)
    config = loader.load(MODEL)
    assert (config.release_id, config["limit"], config["features"], config.source) == (
        "r1",
        10,
        ["a", "b"],
        store.source,
    )
    _cut(store, "r2", limit="20", mode="exact")
    assert loader.load(MODEL)["limit"] == 10  # staged and released, not active: invisible
    operator.set_values(MODEL, {"limit": "30"})
    with pytest.raises(ReleaseExistsError):
        operator.create_release(MODEL, "r2")
    with pytest.raises(InvalidInputError, match="reserved"):
        operator.create_release(MODEL, "active")
    assert operator.view(MODEL, "r2").keys["limit"].text == "20"  # a release never changes
    result = operator.activate(MODEL, "r2", reason="launch")
    assert (result.release_id, result.previous_release_id, result.changed) == ("r2", "r1", True)
    assert (loader.load(MODEL).release_id, loader.load(MODEL)["mode"]) == ("r2", "exact")
    assert operator.activate(MODEL, "r2").changed is False
    back = operator.rollback(MODEL, reason="regressed")
    assert (back.release_id, back.previous_release_id, back.action) == ("r1", "r2", "rollback")
    config = loader.load(MODEL)
    assert (config.release_id, config["limit"], config["mode"]) == ("r1", 10, "fast")
    history = operator.history(MODEL)
    assert [(h.release_id, h.action, h.previous_release_id, h.reason) for h in history[:2]] == [
        ("r1", "rollback", "r2", "regressed"),
        ("r2", "activate", "r1", "launch"),
    ]
    assert history[2].release_id == "r1"
    changes = {d.key: d.status for d in operator.diff(MODEL, "r1", "r2")}
    assert changes == {"limit": "changed", "mode": "changed", "features": "unchanged"}
    assert [r.release_id for r in operator.list_releases(MODEL)][-2:] == ["r1", "r2"]


def test_values_and_releases_that_violate_the_schema_are_refused_naming_each_key(store: Store) -> None:
    operator = store.manager()
    with pytest.raises(ConfigValidationError) as refused:
        operator.set_values(MODEL, {"limit": "500", "mode": "slow", "features": "c"})
    assert refused.value.exit_code == 2 and {p.key for p in refused.value.problems} == {"limit", "mode"}
    assert operator.view(MODEL, "staged").keys["features"].text == "a,b"  # nothing written
    # A value written around the core's checks (straight through the backend) is refused at release time.
    operator.backend.write_value(MODEL, "limit", "500", SCHEMA["limit"])
    with pytest.raises(ConfigValidationError, match="limit") as refused:
        operator.create_release(MODEL, "bad")
    assert [p.key for p in refused.value.problems] == ["limit"]
    with pytest.raises(UnknownReleaseError):
        operator.activate(MODEL, "bad")


def test_concurrent_activations_leave_one_whole_release_and_a_true_history(store: Store) -> None:
    _cut(store, "r2", limit="20")
    _cut(store, "r3", limit="30")
    operators = {"r2": store.manager("alice"), "r3": store.manager("bob")}
    barrier = threading.Barrier(2)
    for operator in {id(o.backend): o for o in operators.values()}.values():
        swap = operator.backend.swap_pointer

        def held(model: str, text: str, expected: Any, swap: Any = swap) -> Any:
            barrier.wait(timeout=10)  # both have read the same pointer revision before either writes
            return swap(model, text, expected)

        operator.backend.swap_pointer = held  # type: ignore[method-assign]
    outcomes: dict[str, Any] = {}

    def activate(release_id: str) -> None:
        try:
            outcomes[release_id] = operators[release_id].activate(MODEL, release_id)
        except ModelConfigError as err:
            outcomes[release_id] = err

    threads = [threading.Thread(target=activate, args=(r,)) for r in operators]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    losers = [o for o in outcomes.values() if isinstance(o, ModelConfigError)]
    assert all(isinstance(o, ConcurrentChangeError) and "nothing" in o.message for o in losers), losers
    if store.exact:
        assert len(losers) == 1  # exactly one wins the compare-and-swap
    history = store.manager().history(MODEL)
    active = history[0].release_id
    winners = [r for r, o in outcomes.items() if not isinstance(o, ModelConfigError)]
    before = 1 if store.name == "azure" else 2  # r1's activation, and the deployment's initial pointer
    assert active in winners and len(history) == before + len(winners)  # every write recorded, none invented
    for newer, older in itertools.pairwise(history):
        assert newer.previous_release_id == older.release_id  # what was really active before each write
    config = store.loader().load(MODEL)
    assert (config.release_id, config["limit"]) == (active, {"r2": 20, "r3": 30}[active])


def test_readers_never_see_a_mix_of_two_releases(store: Store) -> None:
    _cut(store, "r2", limit="20", mode="exact")
    operator = store.manager()
    expected = {"r1": (10, "fast"), "r2": (20, "exact")}
    seen: list[tuple[str, int, str]] = []
    stop = threading.Event()

    def read() -> None:
        loader = store.loader()
        while not stop.is_set():
            config = loader.load(MODEL, refresh=True)
            seen.append((config.release_id, config["limit"], config["mode"]))

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    index, deadline = 0, time.monotonic() + 30
    # Switch while the readers read, until they have read both releases a few times (or the deadline passes).
    while (index < 8 or len(seen) < 20 or len({r for r, _, _ in seen}) < 2) and time.monotonic() < deadline:
        operator.activate(MODEL, "r2") if index % 2 == 0 else operator.rollback(MODEL)
        index += 1
        time.sleep(0.005)  # the readers get the interpreter between two switches
    stop.set()
    for reader in readers:
        reader.join(timeout=30)
    assert len(seen) >= 20 and {r for r, _, _ in seen} == {"r1", "r2"}
    assert all(expected[release] == (limit, mode) for release, limit, mode in seen), seen


def test_a_missing_release_is_never_activated_and_a_pointer_to_one_is_refused(store: Store) -> None:
    operator = store.manager()
    _cut(store, "r2", limit="20")
    _cut(store, "r3", limit="30")
    store.destroy_release("r3")
    with pytest.raises(UnknownReleaseError, match="r3"):
        operator.activate(MODEL, "r3")
    operator.activate(MODEL, "r2")
    loader = store.loader(ttl_seconds=0, retry_interval=0)
    assert loader.load(MODEL).release_id == "r2"
    operator.rollback(MODEL)
    store.destroy_release("r1")  # the release the pointer now names
    config = loader.load(MODEL)
    assert config.stale and (config.release_id, config["limit"]) == ("r2", 20)
    assert "does not exist" in (config.stale_reason or "")
    with pytest.raises(ModelConfigError, match="does not exist"):  # nothing to fall back on: an error, never empty
        store.loader().load(MODEL)


def test_a_hand_edited_pointer_is_refused_with_its_reason_until_an_activation_replaces_it(store: Store) -> None:
    operator = store.manager()
    loader = store.loader(ttl_seconds=0, retry_interval=0)
    loader.load(MODEL)
    store.hand_edit_pointer()
    config = loader.load(MODEL)
    assert config.stale and config.release_id == "r1" and "is refused" in (config.stale_reason or "")
    with pytest.raises(CorruptDocumentError, match="is refused"):
        store.loader().load(MODEL)
    assert operator.pointer_state(MODEL).problem
    with pytest.raises(CorruptDocumentError, match="replaces it"):
        operator.activate(MODEL, "r1")
    assert operator.activate(MODEL, "r1", replace_corrupt=True).changed
    config = loader.load(MODEL)
    assert not config.stale and config.release_id == "r1"


def test_a_released_value_that_violates_the_schema_is_served_stale_naming_the_key(store: Store) -> None:
    loader = store.loader(ttl_seconds=0, retry_interval=0)
    loader.load(MODEL)
    # A release and an activation made around the core's checks, straight through the backend's primitives.
    backend = store.manager().backend
    backend.write_value(MODEL, "limit", "500", SCHEMA["limit"])
    latest = backend.read_latest(MODEL, list(SCHEMA))
    keys = {key: ReleasedKey(version=value.version, ssm_type=value.kind) for key, value in latest.items()}
    document = ReleaseDocument(release_id="sneaky", project=PROJECT, environment=ENV, model=MODEL, keys=keys)
    backend.create_release(MODEL, "sneaky", document.model_dump_json())
    read = backend.read_documents(MODEL, ["sneaky"])
    stored = read.releases["sneaky"]
    assert stored is not None and read.pointer is not None
    pointer = pointer_for(ReleaseDocument.model_validate_json(stored.text), stored.text)
    backend.swap_pointer(MODEL, pointer.model_dump_json(), read.pointer.revision)
    config = loader.load(MODEL)
    assert config.stale and (config.release_id, config["limit"]) == ("r1", 10)
    assert "limit" in (config.stale_reason or "") and "maximum" in (config.stale_reason or "")


def test_an_outage_at_load_and_at_refresh_serves_the_last_known_good_then_recovers(
    store: Store, tmp_path: Path
) -> None:
    key = EncryptedFileSnapshot.generate_key()
    loader = store.loader(ttl_seconds=0, retry_interval=0, snapshot=EncryptedFileSnapshot(tmp_path, key))
    assert not loader.load(MODEL).stale
    store.outage(True)
    config = loader.load(MODEL)
    assert config.stale and config.source == "memory" and config["limit"] == 10 and config.stale_reason
    restarted = store.loader(snapshot=EncryptedFileSnapshot(tmp_path, key)).load(MODEL)
    assert restarted.stale and restarted.source == "file" and (restarted.release_id, restarted["limit"]) == ("r1", 10)
    with pytest.raises(ConfigUnavailableError):
        store.loader().load(MODEL)
    store.outage(False)
    operator = store.manager()
    _cut(store, "r2", limit="20")
    operator.activate(MODEL, "r2")
    config = loader.load(MODEL)
    assert not config.stale and (config.release_id, config["limit"], config.source) == ("r2", 20, store.source)


@pytest.mark.parametrize("store", ["ssm", "azure"], indirect=True)
def test_the_command_line_round_trip_is_the_same_on_every_store(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from ml_infra.cli import app
    from ml_infra.modelconfig import routing

    chosen = ["--backend", store.name]
    if isinstance(store, AzureStore):
        from appconfig_fake import StaticTokenCredential

        # The CLI's one Azure seam: a client on the fake instead of one with DefaultAzureCredential.
        monkeypatch.setattr(routing, "azure_client", lambda endpoint: (store.client(), StaticTokenCredential()))
        chosen += ["--endpoint", store.endpoint]
    monkeypatch.setenv("ML_INFRA_OPERATOR", "alice")

    def run(*args: str) -> Any:
        result = CliRunner().invoke(app, ["config", *chosen, *args, "--env", ENV, "--json"])
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        return json.loads(result.stdout)

    assert run("set", MODEL, "limit=20", "mode=exact")["staged"][0]["key"] == "limit"
    assert {c["key"] for c in run("diff", MODEL)["changes"] if c["status"] == "changed"} == {"limit", "mode"}
    assert run("release", MODEL, "--id", "r2", "--note", "more")["release_id"] == "r2"
    activated = run("activate", MODEL, "r2", "--reason", "ticket 42")
    assert (activated["release_id"], activated["previous_release_id"]) == ("r2", "r1")
    shown = run("show", MODEL)
    assert shown["release_id"] == "r2" and {k["key"]: k["value"] for k in shown["keys"]}["limit"] == "20"
    rolled = run("rollback", MODEL, "--reason", "regressed")
    assert (rolled["release_id"], rolled["action"]) == ("r1", "rollback")
    assert [a["release_id"] for a in run("history", MODEL)["activations"]][:3] == ["r1", "r2", "r1"]
    listed = run("releases", MODEL)
    assert listed["active_release_id"] == "r1" and [r["release_id"] for r in listed["releases"]][-2:] == ["r1", "r2"]
    assert store.loader().load(MODEL).release_id == "r1"
