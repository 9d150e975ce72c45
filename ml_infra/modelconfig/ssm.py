"""The SSM Parameter Store backend: the storage primitives of `backend.ConfigBackend` on SSM's own API.

Layout (see `layout`): one parameter per key, `_schema`, `_release/<id>` per release, `_release/active` as the
pointer. How each primitive maps onto SSM:

- documents and key versions are read with batched `GetParameters` (ten names per call, SSM's limit), keys at an
  exact version with `name:version` selectors; written by hand rather than with Powertools'
  `get_parameters_by_name`, which keys its results by the bare name SSM returns (a selector fails with KeyError)
  and keeps only the value, where a release needs the exact version and type of each key;
- a new release is `PutParameter` without Overwrite (SSM refuses an existing name atomically:
  ParameterAlreadyExists);
- the pointer swap: SSM has no conditional write. The backend reads the pointer's version, refuses if it is not
  the expected one, writes with Overwrite, and compares the version SSM assigned with expected + 1: a write that
  landed in between (within one round trip) is detected (`exclusive=False`), not prevented. The pointer's own
  version history (`GetParameterHistory`) orders every write, so the core still reports the true previous
  release;
- eviction protection is the label `released-v<version>` (`LabelParameterVersion`): SSM keeps at most 100
  versions and refuses to evict a labelled oldest version (ParameterMaxVersionLimitExceeded on the next write);
  `release_retention` removes the label (`UnlabelParameterVersion`).

Every AWS error is translated into the library's exceptions (`aws.translate`); this module does not retry (the
core does, see `retry`), and botocore's own retries are off by default (`aws.ssm_client`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from ml_infra.modelconfig.aws import SSMClient, error_code, error_message, ssm_client, sts_client, translate
from ml_infra.modelconfig.backend import (
    ConfigBackend,
    ModelDocuments,
    PointerSwap,
    Revision,
    StoredDocument,
    StoredValue,
)
from ml_infra.modelconfig.errors import (
    ConcurrentChangeError,
    EvictionRiskError,
    InvalidInputError,
    ModelConfigError,
    ReleaseExistsError,
)
from ml_infra.modelconfig.layout import (
    ACTIVE_RELEASE_ID,
    KeySchema,
    active_release_parameter_name,
    model_path,
    parameter_name,
    protection_label,
    release_parameter_name,
    schema_parameter_name,
)
from ml_infra.modelconfig.values import STANDARD_TIER_MAX_BYTES

GET_PARAMETERS_MAX_NAMES = 10  # SSM's limit per GetParameters call
SSM_MAX_VERSIONS = 100


def _tier_for(text: str) -> str:
    return "Standard" if len(text.encode("utf-8")) <= STANDARD_TIER_MAX_BYTES else "Advanced"


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def split_selector(selector: str) -> tuple[str, str]:
    """`/p/e/m/key:7` -> (`/p/e/m/key`, `7`). Parameter names cannot contain ':'."""
    name, _, qualifier = selector.partition(":")
    return name, qualifier


class SsmBackend(ConfigBackend):
    """SSM Parameter Store for the models of one project and environment.

    `client`/`sts` are boto3 SSM and STS clients (default: from the standard AWS settings).
    """

    name = "ssm"
    service = "SSM Parameter Store"
    max_versions = SSM_MAX_VERSIONS

    def __init__(self, project: str, environment: str, *, client: SSMClient | None = None, sts: Any = None):
        self.project = project
        self.environment = environment
        self.client = client if client is not None else ssm_client()
        self._sts = sts
        self._identity: str | None = None

    # -- locations ----------------------------------------------------------------------------------------

    def schema_location(self, model: str) -> str:
        return schema_parameter_name(self.project, self.environment, model)

    def pointer_location(self, model: str) -> str:
        return active_release_parameter_name(self.project, self.environment, model)

    def release_location(self, model: str, release_id: str) -> str:
        return release_parameter_name(self.project, self.environment, model, release_id)

    def key_location(self, model: str, key: str) -> str:
        return parameter_name(self.project, self.environment, model, key)

    # -- reading ------------------------------------------------------------------------------------------

    def get_parameters(self, selectors: Sequence[str], *, decrypt: bool, doing: str) -> dict[str, dict[str, Any]]:
        """Parameters by name, `name:version` or `name:label`, ten per call: ceil(N/10) calls. Returns what was
        found, keyed by the selector as given; a selector SSM reports invalid (no such parameter, version or label)
        is absent."""
        if len({split_selector(s)[0] for s in selectors}) != len(selectors):
            raise ValueError("each parameter may be selected once per fetch")
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(selectors), GET_PARAMETERS_MAX_NAMES):
            try:
                response = self.client.get_parameters(Names=list(chunk), WithDecryption=decrypt)
            except Exception as err:
                raise translate(err, doing=doing) from None
            returned = {p["Name"]: p for p in response.get("Parameters", [])}
            for selector in chunk:
                name, qualifier = split_selector(selector)
                parameter = returned.get(name)
                if parameter is None:
                    continue
                if qualifier.isdigit() and int(parameter["Version"]) != int(qualifier):
                    continue
                found[selector] = parameter
        return found

    def read_documents(self, model: str, release_ids: Sequence[str] = ()) -> ModelDocuments:
        schema = self.schema_location(model)
        pointer = self.pointer_location(model)
        releases = {release_id: self.release_location(model, release_id) for release_id in release_ids}
        names = list(dict.fromkeys([schema, pointer, *releases.values()]))
        found = self.get_parameters(names, decrypt=False, doing=f"read the documents of model {model}")

        def document(name: str) -> StoredDocument | None:
            parameter = found.get(name)
            if parameter is None:
                return None
            return StoredDocument(
                location=name,
                text=str(parameter["Value"]),
                revision=int(parameter["Version"]),
                modified_at=parameter.get("LastModifiedDate"),
            )

        return ModelDocuments(
            schema=document(schema),
            pointer=document(pointer),
            releases={release_id: document(name) for release_id, name in releases.items()},
        )

    def _values(self, model: str, selectors: Mapping[str, str], doing: str) -> dict[str, StoredValue]:
        found = self.get_parameters(list(selectors.values()), decrypt=True, doing=doing)
        values: dict[str, StoredValue] = {}
        for key, selector in selectors.items():
            parameter = found.get(selector)
            if parameter is not None:
                values[key] = StoredValue(
                    key=key,
                    text=str(parameter["Value"]),
                    version=int(parameter["Version"]),
                    kind=parameter["Type"],
                    modified_at=parameter.get("LastModifiedDate"),
                )
        return values

    def read_versions(
        self, model: str, wanted: Mapping[str, int], release_id: str | None = None
    ) -> dict[str, StoredValue]:
        selectors = {key: f"{self.key_location(model, key)}:{version}" for key, version in wanted.items()}
        return self._values(model, selectors, f"read the key versions of model {model}")

    def read_labelled(self, model: str, wanted: Mapping[str, int]) -> dict[str, StoredValue]:
        """The versions in `wanted` that carry their protection label (the rest are absent)."""
        selectors = {key: f"{self.key_location(model, key)}:{protection_label(v)}" for key, v in wanted.items()}
        return self._values(model, selectors, f"read the key versions of model {model}")

    def read_latest(self, model: str, keys: Sequence[str]) -> dict[str, StoredValue]:
        selectors = {key: self.key_location(model, key) for key in keys}
        return self._values(model, selectors, f"read the staged values of model {model}")

    def list_releases(self, model: str) -> list[StoredDocument]:
        path = f"{model_path(self.project, self.environment, model)}/_release"
        documents: list[StoredDocument] = []
        pages = self._pages(
            "get_parameters_by_path", f"list the releases of model {model}", 10, Path=path, Recursive=False
        )
        for response in pages:
            for parameter in response.get("Parameters", []):
                if parameter["Name"].rsplit("/", 1)[-1] == ACTIVE_RELEASE_ID:
                    continue
                documents.append(
                    StoredDocument(
                        location=parameter["Name"],
                        text=str(parameter["Value"]),
                        revision=int(parameter["Version"]),
                        modified_at=parameter.get("LastModifiedDate"),
                    )
                )
        return documents

    def pointer_history(self, model: str) -> list[StoredDocument]:
        name = self.pointer_location(model)
        versions: list[StoredDocument] = []
        pages = self._pages(
            "get_parameter_history", f"read the history of {name}", 50, absent_is_empty=True,
            Name=name, WithDecryption=False,
        )
        for response in pages:
            for version in response.get("Parameters", []):
                modified = version.get("LastModifiedDate")
                versions.append(
                    StoredDocument(
                        location=name,
                        text=str(version["Value"]),
                        revision=int(version["Version"]),
                        modified_at=modified if isinstance(modified, datetime) else None,
                        modified_by=version.get("LastModifiedUser"),
                    )
                )
        return sorted(versions, key=lambda v: int(v.revision))

    # -- writing ------------------------------------------------------------------------------------------

    def _describe(self, names: Sequence[str], doing: str) -> dict[str, dict[str, Any]]:
        described: dict[str, dict[str, Any]] = {}
        for start in range(0, len(names), 50):
            chunk = list(names[start : start + 50])
            name_filter = [{"Key": "Name", "Option": "Equals", "Values": chunk}]
            for response in self._pages("describe_parameters", doing, None, ParameterFilters=name_filter):
                for parameter in response.get("Parameters", []):
                    described[parameter["Name"]] = parameter
        return described

    def _pages(
        self, operation: str, doing: str, page_size: int | None, *, absent_is_empty: bool = False, **params: Any
    ) -> Iterator[dict[str, Any]]:
        """The pages of a paginated SSM call, through boto3's paginator for it (same requests as NextToken by
        hand); an error names what was being done, and ParameterNotFound ends the listing empty when asked."""
        config = {"PageSize": page_size} if page_size else {}
        try:
            yield from self.client.get_paginator(operation).paginate(**params, PaginationConfig=config)
        except Exception as err:
            if absent_is_empty and error_code(err) == "ParameterNotFound":
                return
            raise translate(err, doing=doing) from None

    def write_value(self, model: str, key: str, text: str, declared: KeySchema) -> int:
        name = self.key_location(model, key)
        current = self._describe([name], f"describe {name}").get(name, {})
        tier = current.get("Tier") or "Standard"
        if _tier_for(text) == "Advanced":
            tier = "Advanced"
        kwargs: dict[str, Any] = {
            "Name": name,
            "Value": text,
            "Type": declared.ssm_type,
            "Overwrite": True,
            "Tier": tier,
        }
        # Carry over what Pulumi declared, so a run-time write changes the value only.
        if current.get("Description"):
            kwargs["Description"] = current["Description"]
        if current.get("AllowedPattern"):
            kwargs["AllowedPattern"] = current["AllowedPattern"]
        if declared.ssm_type == "SecureString" and current.get("KeyId"):
            kwargs["KeyId"] = current["KeyId"]
        try:
            response = self.client.put_parameter(**kwargs)
        except Exception as err:
            code = error_code(err)
            if code == "ParameterMaxVersionLimitExceeded":
                raise EvictionRiskError(
                    f"cannot write {key} of model {model}: SSM keeps at most {SSM_MAX_VERSIONS} versions of a "
                    f"parameter and the oldest one is protected because a release references it "
                    f"({error_message(err)})"
                ) from None
            if code == "ParameterPatternMismatchException":
                raise InvalidInputError(
                    f"{key} of model {model}: SSM refused the value: {error_message(err)}"
                ) from None
            raise translate(err, doing=f"write {name}", write=True) from None
        return int(response["Version"])

    def _put_document(self, name: str, text: str, description: str, *, overwrite: bool) -> int:
        kwargs: dict[str, Any] = {"Name": name, "Value": text, "Type": "String", "Overwrite": overwrite}
        if not overwrite:
            kwargs["Description"] = description
            kwargs["Tier"] = _tier_for(text)
        elif _tier_for(text) == "Advanced":
            kwargs["Tier"] = "Advanced"
        response = self.client.put_parameter(**kwargs)
        return int(response["Version"])

    def create_release(self, model: str, release_id: str, text: str) -> StoredDocument:
        name = self.release_location(model, release_id)
        try:
            version = self._put_document(
                name, text, f"Release {release_id} of model {model} (immutable).", overwrite=False
            )
        except Exception as err:
            if error_code(err) == "ParameterAlreadyExists":
                raise ReleaseExistsError(
                    f"release {release_id} of model {model} already exists ({name}); releases are immutable, "
                    "choose another id"
                ) from None
            raise translate(err, doing=f"write release {name}", write=True) from None
        return StoredDocument(location=name, text=text, revision=version)

    def replace_release(self, model: str, release_id: str, text: str) -> StoredDocument:
        name = self.release_location(model, release_id)
        try:
            version = self._put_document(name, text, "", overwrite=True)
        except Exception as err:
            raise translate(err, doing=f"write release {name}", write=True) from None
        return StoredDocument(location=name, text=text, revision=version)

    def delete_release(self, model: str, release_id: str) -> None:
        name = self.release_location(model, release_id)
        try:
            self.client.delete_parameter(Name=name)
        except Exception as err:
            if error_code(err) == "ParameterNotFound":
                return
            raise translate(err, doing=f"delete release {name} (ssm:DeleteParameter)", write=True) from None

    def swap_pointer(self, model: str, text: str, expected: Revision | None) -> PointerSwap:
        name = self.pointer_location(model)
        description = f"The active release of model {model}; changed by `ml-infra config activate`."
        if expected is None:
            try:
                return PointerSwap(self._put_document(name, text, description, overwrite=False), exclusive=True)
            except Exception as err:
                if error_code(err) == "ParameterAlreadyExists":
                    raise ConcurrentChangeError(
                        f"the active-release pointer of model {model} ({name}) was created by someone else "
                        "meanwhile; nothing written"
                    ) from None
                raise translate(err, doing=f"write the active-release pointer {name}", write=True) from None
        try:
            current = int(self.client.get_parameter(Name=name)["Parameter"]["Version"])
        except Exception as err:
            if error_code(err) == "ParameterNotFound":
                current = 0
            else:
                raise translate(err, doing=f"read the active-release pointer {name}") from None
        if current != int(expected):
            raise ConcurrentChangeError(
                f"the active-release pointer of model {model} ({name}) changed while this activation was being "
                f"prepared (version {expected} -> {current}); nothing written"
            )
        try:
            version = self._put_document(name, text, description, overwrite=True)
        except Exception as err:
            raise translate(err, doing=f"write the active-release pointer {name}", write=True) from None
        return PointerSwap(version, exclusive=version == int(expected) + 1)

    def retain(self, model: str, versions: Sequence[tuple[str, int]]) -> int:
        if not versions:
            return 0
        # One selector per parameter per GetParameters call: group the versions of one key across calls.
        missing: list[tuple[str, int]] = []
        pending = [((key, v), f"{self.key_location(model, key)}:{protection_label(v)}") for key, v in versions]
        while pending:
            batch: dict[str, tuple[str, int]] = {}
            rest = []
            for pair, selector in pending:
                if split_selector(selector)[0] in {split_selector(s)[0] for s in batch}:
                    rest.append((pair, selector))
                else:
                    batch[selector] = pair
            found = self.get_parameters(list(batch), decrypt=False, doing=f"read the labels of model {model}")
            missing.extend(pair for selector, pair in batch.items() if selector not in found)
            pending = rest
        return self.label(model, missing)

    def label(self, model: str, versions: Sequence[tuple[str, int]]) -> int:
        """Label each (key, version) `released-v<version>`, known to lack it; returns how many were added."""
        added = 0
        for key, version in versions:
            name = self.key_location(model, key)
            label = protection_label(version)
            try:
                response = self.client.label_parameter_version(Name=name, ParameterVersion=version, Labels=[label])
            except Exception as err:
                code = error_code(err)
                if code == "ParameterVersionLabelLimitExceeded":
                    # Ten labels already: SSM refuses to evict a labelled version, so it is protected anyway.
                    continue
                if code in ("ParameterVersionNotFound", "ParameterNotFound"):
                    raise EvictionRiskError(
                        f"model {model}: {key} version {version} is referenced by a release but SSM no longer has it "
                        f"(deleted, or evicted after {SSM_MAX_VERSIONS} newer versions before it was protected)"
                    ) from None
                raise translate(
                    err, doing=f"label {name} version {version} (ssm:LabelParameterVersion)", write=True
                ) from None
            if response.get("InvalidLabels"):
                raise ModelConfigError(f"SSM refused the label {label} on {name}: {response['InvalidLabels']}")
            added += 1
        return added

    def release_retention(self, model: str, versions: Sequence[tuple[str, int]]) -> int:
        removed = 0
        for key, version in versions:
            name = self.key_location(model, key)
            try:
                response = self.client.unlabel_parameter_version(
                    Name=name, ParameterVersion=version, Labels=[protection_label(version)]
                )
            except Exception as err:
                if error_code(err) in ("ParameterVersionNotFound", "ParameterNotFound"):
                    continue
                raise translate(
                    err, doing=f"unlabel {name} version {version} (ssm:UnlabelParameterVersion)", write=True
                ) from None
            removed += len(response.get("RemovedLabels", []))
        return removed

    def identity(self) -> str:
        if self._identity is None:
            try:
                sts = self._sts if self._sts is not None else sts_client()
                self._identity = str(sts.get_caller_identity()["Arn"])
            except Exception as err:
                raise translate(err, doing="identify the caller (sts:GetCallerIdentity)") from None
        return self._identity
