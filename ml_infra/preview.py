"""Offline preview: evaluates the real Pulumi program (`__main__.py`) for one stack on Pulumi's mock runtime,
with no Pulumi CLI, no provider plugins and no cloud credentials, and reports what the stack declares.

It does what the CLI does before it starts a program: reads `Pulumi.yaml` and `Pulumi.<stack>.yaml`, applies
the project's config defaults, and hands the program the flat `namespace:key` config map and its secret keys.
Values stored as `secure:` ciphertext cannot be decrypted offline: they become placeholder secrets. The
committed stack files hold none: a SecureString whose secret is not set previews with an unknown value, as
`pulumi preview` shows it.

Every registration is recorded as the engine would receive it (type token, logical name, parent, camelCase
inputs, protect, provider, ignoreChanges). The tests evaluate the program through the same function, so what
the preview shows and what the tests assert are the same thing.

Pulumi's `Mocks` only sees a resource's type, name and inputs; the parent, protect flag and ignore_changes are
on the registration request, which is why this module wraps the mock monitor rather than only the mocks.
"""

from __future__ import annotations

import contextlib
import json
import re
import runpy
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from ml_infra.strict_yaml import StrictYamlError, load_strict_yaml

if TYPE_CHECKING:
    from ml_infra.guardrails.core import Violation

SECRET_MARK = "[secret]"
OFFLINE_SECRET_PLACEHOLDER = "offline-preview-placeholder-secret"
MOCK_AWS_ACCOUNT = "123456789012"
MOCK_AZURE_SUBSCRIPTION = "00000000-0000-4000-8000-000000000000"
MOCK_GCP_PROJECT_NUMBER = "123456789012"


class ProjectFileError(Exception):
    """Pulumi.yaml or a stack file is missing or malformed. `problems` has one line per problem, each naming the
    file (and the key, where there is one)."""

    def __init__(self, problems: str | list[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


# ---------------------------------------------------------------------------------------------------------------
# Reading the project and stack files the way the Pulumi CLI does


@dataclass(frozen=True)
class StackFiles:
    project: str
    config: dict[str, str]
    secret_keys: list[str]
    # The file each config key comes from (the stack file, or Pulumi.yaml for a project default).
    sources: dict[str, Path] = field(default_factory=dict)
    stack_file: Path | None = None


def _read_yaml(path: Path) -> Any:
    """The YAML document of `path`, read strictly (ml_infra.strict_yaml: UTF-8, unique keys, YAML 1.2)."""
    try:
        return load_strict_yaml(path)
    except FileNotFoundError as err:
        raise ProjectFileError(f"{path}: not found.") from err
    except OSError as err:
        raise ProjectFileError(f"{path}: cannot be read: {err.strerror}.") from err
    except StrictYamlError as err:
        raise ProjectFileError(err.problems) from None


def _as_config_string(value: Any) -> str:
    # The engine hands every config value to the program as a string; objects and arrays as JSON.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


# The ciphertext `pulumi config set --secret` writes: base64 (the Pulumi Cloud and cloud-KMS secrets managers),
# or `v1:<nonce>:<base64>` (the passphrase secrets manager).
CIPHERTEXT = re.compile(r"^(?:v1:[A-Za-z0-9+/=]+:)?[A-Za-z0-9+/]+={0,2}$")


def _strip_secure(value: Any, where: str, problems: list[str]) -> tuple[Any, bool]:
    """Replace `{secure: ...}` ciphertext (at any depth) by a placeholder. Returns (value, had_secret); a
    `secure:` that is not a ciphertext string is a problem (`where` names its file and key)."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            ciphertext = value["secure"]
            if not isinstance(ciphertext, str) or not CIPHERTEXT.match(ciphertext):
                kinds = {"list": "a list", "dict": "a mapping", "bool": "a boolean", "int": "a number"}
                got = (
                    "empty" if ciphertext in (None, "")
                    else "not ciphertext (base64 text)" if isinstance(ciphertext, str)
                    else f"{kinds.get(type(ciphertext).__name__, 'a number')}, not text"
                )
                problems.append(
                    f"{where}.secure: is {got}; allowed: the ciphertext string that "
                    "`pulumi config set --secret <key> <value>` writes"
                )
            return OFFLINE_SECRET_PLACEHOLDER, True
        found = False
        out = {}
        for key, item in value.items():
            out[key], secret = _strip_secure(item, f"{where}.{key}", problems)
            found = found or secret
        return out, found
    if isinstance(value, list):
        pairs = [_strip_secure(item, f"{where}[{index}]", problems) for index, item in enumerate(value)]
        return [item for item, _ in pairs], any(secret for _, secret in pairs)
    return value, False


def program_path(project_dir: Path, project_doc: Mapping[str, Any] | None = None) -> Path:
    """The program the Pulumi CLI runs for a Python project: `__main__.py` in the project folder, or in the
    folder Pulumi.yaml's `main` names."""
    main = (project_doc or {}).get("main")
    folder = project_dir / main if isinstance(main, str) and main else project_dir
    return folder if folder.suffix == ".py" else folder / "__main__.py"


# The Pulumi CLI's rule for a stack's name: "may only contain alphanumeric, hyphens, underscores, or periods".
STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def read_stack_files(project_dir: Path, stack: str) -> StackFiles:
    if not STACK_NAME.match(stack) or stack in (".", ".."):
        raise ProjectFileError(
            f"--stack {stack!r}: is not a stack name; allowed: 1-100 letters, digits, '-', '_' and '.' "
            "(the stack's own name, as in Pulumi.<stack>.yaml)"
        )
    project_file = project_dir / "Pulumi.yaml"
    project_doc = _read_yaml(project_file)
    if not isinstance(project_doc, dict) or not isinstance(project_doc.get("name"), str):
        raise ProjectFileError(f"{project_file}: name: is missing; Pulumi.yaml must be a mapping with a `name`.")
    project = project_doc["name"]
    program = program_path(project_dir, project_doc)
    if not program.is_file():
        raise ProjectFileError(
            f"{program}: not found; the Pulumi program of a Python project is the `__main__.py` of the project "
            "folder (or of the folder Pulumi.yaml's `main` names)."
        )
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        known = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))
        raise ProjectFileError(f"{stack_file}: not found; stacks here: {', '.join(known) or 'none'}.")
    stack_doc = _read_yaml(stack_file) or {}
    if not isinstance(stack_doc, dict) or not isinstance(stack_doc.get("config") or {}, dict):
        raise ProjectFileError(f"{stack_file}: config: is not a mapping; a stack file holds a `config` mapping.")

    config: dict[str, str] = {}
    secret_keys: list[str] = []
    sources: dict[str, Path] = {}
    problems: list[str] = []
    for key, value in (stack_doc.get("config") or {}).items():
        if not isinstance(key, str) or not key:
            problems.append(f"{stack_file}: config.{key}: is not a config key; keys are text such as `{project}:key`")
            continue
        full_key = key if ":" in key else f"{project}:{key}"
        if value is None:
            problems.append(f"{stack_file}: {full_key}: has no value; give it a value or remove the key")
            continue
        plain, secret = _strip_secure(value, f"{stack_file}: {full_key}", problems)
        config[full_key] = _as_config_string(plain)
        sources[full_key] = stack_file
        if secret:
            secret_keys.append(full_key)

    # Project-level declarations: defaults apply where the stack does not set the key, as the CLI does.
    declared = project_doc.get("config") or {}
    if not isinstance(declared, dict):
        raise ProjectFileError(f"{project_file}: config: is not a mapping; declare config keys as a mapping.")
    for key, spec in declared.items():
        full_key = key if ":" in str(key) else f"{project}:{key}"
        if full_key in config or not isinstance(spec, dict):
            continue
        if "default" in spec:
            config[full_key] = _as_config_string(spec["default"])
            sources[full_key] = project_file
        elif "value" in spec:
            config[full_key] = _as_config_string(spec["value"])
            sources[full_key] = project_file
    if problems:
        raise ProjectFileError(problems)
    return StackFiles(
        project=project, config=config, secret_keys=secret_keys, sources=sources, stack_file=stack_file
    )


# ---------------------------------------------------------------------------------------------------------------
# The mock runtime


@dataclass
class Registration:
    """One resource as the engine received it."""

    urn: str
    id: str | None
    type: str
    name: str
    parent: str | None
    custom: bool
    protect: bool
    provider: str | None
    ignore_changes: list[str]
    raw_inputs: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def inputs(self) -> dict[str, Any]:
        """Inputs with every secret value replaced by "[secret]"."""
        return redact_secrets(self.raw_inputs)

    @property
    def revealed_inputs(self) -> dict[str, Any]:
        """Inputs with secret values shown (for assertions; never printed)."""
        return reveal_secrets(self.raw_inputs)


def is_secret_value(value: Any) -> bool:
    return rpc.is_rpc_secret(value)


def redact_secrets(value: Any) -> Any:
    """A copy of `value` with every secret replaced by "[secret]" (and whole-number floats, which is how the
    wire carries every number, shown as integers)."""
    if rpc.is_rpc_secret(value):
        return SECRET_MARK
    if isinstance(value, dict):
        return {key: redact_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_secrets(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, pulumi.FileAsset | pulumi.FileArchive):
        return {"path": value.path}  # an uploaded file (a Glue job script): where it is read from
    return value


def reveal_secrets(value: Any) -> Any:
    if rpc.is_rpc_secret(value):
        return reveal_secrets(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {key: reveal_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [reveal_secrets(item) for item in value]
    return value


def _aws_service(type_token: str) -> str:
    module = type_token.split(":")[1].split("/")[0]
    return {"index": "iam"}.get(module, module)


class _PreviewMocks(pulumi_mocks.Mocks):
    """Plausible outputs for every resource and the few provider functions the program calls."""

    def __init__(self, aws_account: str):
        self.aws_account = aws_account
        self.providers: dict[str, dict[str, Any]] = {}

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = args.inputs
        state: dict[str, Any] = dict(inputs)
        token = args.typ
        resource_id = f"{args.name}-id"
        if token.startswith("pulumi:providers:"):
            self.providers[args.name] = inputs
            return resource_id, state
        if token.startswith("aws:"):
            service = _aws_service(token)
            physical = inputs.get("name") or inputs.get("registryName") or inputs.get("schemaName") or args.name
            if token == "aws:kms/key:Key":
                resource_id = f"{args.name}-0000-4000-8000-000000000000"
                state["keyId"] = resource_id
                physical = f"key/{resource_id}"
            elif token == "aws:ssm/parameter:Parameter":
                physical = f"parameter{physical}"
                state["version"] = 1
                state.pop("valueWo", None)  # write-only: never in state
            elif token == "aws:iam/policy:Policy":
                physical = f"policy/{physical}"
            elif token == "aws:iam/role:Role":
                physical = inputs.get("name") or f"{args.name}-a1b2c3d"
                state["name"] = physical
                resource_id = physical
                physical = f"role/{physical}"
            elif token == "aws:s3/bucket:Bucket":
                bucket = inputs.get("bucket") or f"{args.name}-a1b2c3d"
                state["bucket"] = bucket
                resource_id = bucket
                state["arn"] = f"arn:aws:s3:::{bucket}"
                return resource_id, state
            elif token.startswith("aws:sagemaker/"):
                # Pulumi auto-names these; SageMaker ARNs name the resource kind in lower case.
                physical = inputs.get("name") or f"{args.name}-a1b2c3d"
                state["name"] = physical
                kind = {"endpointConfiguration": "endpoint-config"}.get(token.split("/")[1].split(":")[0], "")
                kind = kind or token.split(":")[-1].lower()
                physical = f"{kind}/{physical}"
            # The AppSync model registry (ml_infra/appsync_api.py): the table's and API's ARNs in their services'
            # formats, the API's endpoints and the API key's value, which the program exports.
            elif token == "aws:dynamodb/table:Table":
                physical = f"table/{physical}"
            elif token == "aws:appsync/graphQLApi:GraphQLApi":
                resource_id = f"{args.name}-apiid"
                physical = f"apis/{resource_id}"
                host = f"{resource_id}.appsync-api.eu-west-1.amazonaws.com"
                state["uris"] = {"GRAPHQL": f"https://{host}/graphql", "REALTIME": f"wss://{host}/graphql"}
            elif token == "aws:appsync/apiKey:ApiKey":
                state["key"] = "da2-offlinepreviewmockapikey0000"
            region = "" if service == "iam" else "eu-west-1"
            state["arn"] = f"arn:aws:{service}:{region}:{self.aws_account}:{physical}"
            return resource_id, state
        if token.startswith("azure-native:"):
            name = (
                inputs.get("resourceGroupName")
                if token == "azure-native:resources:ResourceGroup"
                else inputs.get("configStoreName")
                if token == "azure-native:appconfiguration:ConfigurationStore"
                else None
            ) or f"{args.name}1a2b3c"
            state["name"] = name
            resource_id = f"/subscriptions/{MOCK_AZURE_SUBSCRIPTION}/resourceGroups/mock/providers/{token}/{name}"
            if token == "azure-native:appconfiguration:ConfigurationStore":
                state["endpoint"] = f"https://{name}.azconfig.io"
                state["identity"] = {
                    **(inputs.get("identity") or {}),
                    "principalId": "11111111-2222-4333-8444-555555555555",
                }
            return resource_id, state
        if token.startswith("gcp:"):
            project = inputs.get("project", "mock-project")
            if token == "gcp:projects/serviceIdentity:ServiceIdentity":
                email = f"service-{MOCK_GCP_PROJECT_NUMBER}@gcp-sa-aiplatform.iam.gserviceaccount.com"
                state.update(email=email, member=f"serviceAccount:{email}")
            resource_id = f"projects/{project}/{args.name}"
            state.setdefault("name", args.name)
            return resource_id, state
        return resource_id, state

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        token = args.token
        provider_name = (args.provider or "").split("::")[-2] if args.provider else ""
        provider_inputs = self.providers.get(provider_name, {})
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            arn = f"arn:aws:iam::{self.aws_account}:user/offline-preview"
            return {
                "accountId": self.aws_account,
                "arn": arn,
                "userId": "AIDAOFFLINEPREVIEW",
                "id": self.aws_account,
            }, []
        if token == "aws:index/getPartition:getPartition":
            return {
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
                "reverseDnsPrefix": "com.amazonaws",
                "id": "aws",
            }, []
        if token == "aws:index/getRegion:getRegion":
            region = provider_inputs.get("region", "eu-west-1")
            return {"region": region, "name": region, "endpoint": f"ec2.{region}.amazonaws.com", "id": region}, []
        if token == "azure-native:authorization:getClientConfig":
            subscription = provider_inputs.get("subscriptionId", MOCK_AZURE_SUBSCRIPTION)
            return {
                "clientId": "22222222-3333-4444-8555-666666666666",
                "objectId": "33333333-4444-4555-8666-777777777777",
                "subscriptionId": subscription,
                "tenantId": "44444444-5555-4666-8777-888888888888",
            }, []
        # An invoke the program makes but this preview does not know would silently return all-None fields;
        # fail instead, so a new invoke gets a mock here.
        raise NotImplementedError(f"the offline preview has no mock for provider function {token}")


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: _PreviewMocks):
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        urn = response.urn
        registration = Registration(
            urn=urn,
            id=response.id or None,
            type=request.type,
            name=request.name,
            parent=request.parent or None,
            custom=bool(request.custom),
            protect=bool(request.protect),
            provider=request.provider or None,
            ignore_changes=list(request.ignoreChanges),
            raw_inputs=rpc.deserialize_properties(request.object),
            state=dict(self.resources[urn].state) if urn in self.resources else {},
        )
        self.registrations.append(registration)
        return response


# ---------------------------------------------------------------------------------------------------------------
# Evaluating the program


@dataclass
class StackOutput:
    value: Any
    secret: bool


@dataclass
class Evaluation:
    project: str
    stack: str
    resources: list[Registration]
    outputs: dict[str, StackOutput]

    def of_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_token]

    def named(self, name: str) -> Registration:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources are named {name!r}")
        return matches[0]

    def children_of(self, parent: Registration) -> list[Registration]:
        return [r for r in self.resources if r.parent == parent.urn]

    def to_json(self) -> dict[str, Any]:
        return {
            "resources": [
                {
                    "type": r.type,
                    "name": r.name,
                    "parent": r.parent,
                    "urn": r.urn,
                    "custom": r.custom,
                    "protect": r.protect,
                    "provider": r.provider,
                    "ignoreChanges": r.ignore_changes,
                    "inputs": r.inputs,
                }
                for r in sorted(self.resources, key=lambda r: r.urn)
            ],
            "outputs": {name: SECRET_MARK if out.secret else out.value for name, out in self.outputs.items()},
        }


def _resolve(value: Any) -> StackOutput:
    output = pulumi.Output.from_input(value)
    return StackOutput(value=_sync_await(output.future()), secret=bool(_sync_await(output.is_secret())))


def evaluate(
    project_dir: Path,
    stack: str,
    *,
    config: Mapping[str, str] | None = None,
    secret_keys: list[str] | None = None,
    program: Path | None = None,
    dry_run: bool = True,
) -> Evaluation:
    """Run the program of `project_dir` for `stack` on the mock runtime and return what it registered.

    `config`/`secret_keys` replace what the stack files say (tests use them for bad or unusual configs);
    otherwise the files are read as the CLI reads them. Exceptions raised by the program propagate, among
    them `pulumi.RunError` subclasses for unusable config or contract files.

    `dry_run` True runs the program as `pulumi preview` does (`pulumi.runtime.is_dry_run()`), False as
    `pulumi up` does: an update refuses a stack whose SecureString secrets are not set.
    """
    project_dir = project_dir.resolve()
    files = read_stack_files(project_dir, stack) if config is None else None
    project = files.project if files else _read_yaml(project_dir / "Pulumi.yaml")["name"]
    flat = dict(files.config) if files else dict(config or {})
    secrets = list(files.secret_keys) if files else list(secret_keys or [])

    # The mocked caller identity is the stack's own account when it names one, as STS would answer.
    account = MOCK_AWS_ACCOUNT
    with contextlib.suppress(json.JSONDecodeError, AttributeError):
        account = json.loads(flat.get(f"{project}:aws", "{}")).get("accountId") or account

    # A fresh runtime for every evaluation: config, root stack resource, and outstanding work from a prior run.
    pulumi.runtime.set_all_config(flat, secrets)
    settings.ROOT.set(None)
    mocks = _PreviewMocks(account)
    monitor = _RecordingMonitor(mocks)
    pulumi_mocks.set_mocks(mocks, project=project, stack=stack, preview=dry_run, monitor=monitor)

    main = program or program_path(project_dir, _read_yaml(project_dir / "Pulumi.yaml"))
    if not main.is_file():
        raise ProjectFileError(f"{main}: not found; the Pulumi program of a Python project is its `__main__.py`.")
    added_path = str(project_dir) not in sys.path
    if added_path:
        sys.path.insert(0, str(project_dir))

    def run_program() -> None:
        runpy.run_path(str(main), run_name="__main__")

    try:
        _sync_await(run_pulumi_func(run_program))
        root = settings.get_root_resource()
        raw_outputs: dict[str, Any] = dict(getattr(root, "outputs", {}) or {})
        outputs = {name: _resolve(value) for name, value in raw_outputs.items()}
    finally:
        if added_path:
            sys.path.remove(str(project_dir))
    return Evaluation(project=project, stack=stack, resources=monitor.registrations, outputs=outputs)


# ---------------------------------------------------------------------------------------------------------------
# The `ml-infra preview` command

# The few inputs worth a glance in the tree view, per resource type; the JSON output has them all.
_SHOWN_INPUTS: dict[str, tuple[str, ...]] = {
    "aws:kms/key:Key": ("enableKeyRotation", "deletionWindowInDays"),
    "aws:kms/alias:Alias": ("name",),
    "aws:ssm/parameter:Parameter": ("name", "type", "tier", "keyId"),
    "aws:iam/policy:Policy": ("name",),
    "aws:glue/registry:Registry": ("registryName",),
    "aws:glue/schema:Schema": ("schemaName", "dataFormat", "compatibility"),
    "azure-native:resources:ResourceGroup": ("resourceGroupName", "location"),
    "azure-native:appconfiguration:ConfigurationStore": ("sku", "disableLocalAuth", "publicNetworkAccess"),
    "azure-native:appconfiguration:KeyValue": ("keyValueName",),
    "aws:sagemaker/model:Model": ("enableNetworkIsolation",),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": ("kmsKeyArn",),
    "aws:sagemaker/endpoint:Endpoint": ("name",),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("metricName", "threshold"),
    "gcp:kms/cryptoKey:CryptoKey": ("name", "rotationPeriod"),
    "gcp:vertex/aiMetadataStore:AiMetadataStore": ("name", "region", "encryptionSpec"),
    "gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore": ("name", "region", "encryptionSpec"),
}


def _summary(registration: Registration) -> str:
    inputs = registration.inputs
    shown = _SHOWN_INPUTS.get(registration.type)
    if shown is None:
        return ""
    parts = []
    for key in shown:
        if key in inputs:
            value = inputs[key]
            text = json.dumps(value, separators=(",", ":")) if isinstance(value, dict | list | bool) else str(value)
            parts.append(f"{key}={text}")
    return "  " + " ".join(parts) if parts else ""


def _tree_lines(evaluation: Evaluation) -> Iterator[str]:
    by_parent: dict[str | None, list[Registration]] = {}
    urns = {r.urn for r in evaluation.resources}
    for registration in evaluation.resources:
        parent = registration.parent if registration.parent in urns else None
        by_parent.setdefault(parent, []).append(registration)

    def walk(parent: str | None, depth: int) -> Iterator[str]:
        # Registration order depends on when outputs resolve; sort so that two runs print the same tree.
        for registration in sorted(by_parent.get(parent, []), key=lambda r: (r.custom, r.name)):
            flag = " [protected]" if registration.protect else ""
            yield f"{'  ' * depth}{registration.type}  {registration.name}{flag}{_summary(registration)}"
            yield from walk(registration.urn, depth + 1)

    yield from walk(None, 1)


def render_text(evaluation: Evaluation) -> str:
    lines = [f"Stack {evaluation.project}/{evaluation.stack}: {len(evaluation.resources)} resources"]
    lines += list(_tree_lines(evaluation))
    lines.append("Outputs:")
    for name, output in sorted(evaluation.outputs.items()):
        shown = SECRET_MARK if output.secret else json.dumps(output.value)
        lines.append(f"  {name}: {shown}")
    return "\n".join(lines)


def render_violations(violations: list[Violation], environment: str) -> str:
    """The guardrail violations grouped by resource (stack-level ones under "stack"), mandatory first."""
    mandatory = sum(1 for v in violations if v.enforcement == "mandatory")
    lines = [
        f"Guardrails ({environment}): {mandatory} mandatory, {len(violations) - mandatory} advisory violation(s)"
    ]
    by_resource: dict[str, list[Violation]] = {}
    for violation in violations:
        where = f"{violation.resource_type}  {violation.resource_name}" if violation.resource_name else "stack"
        by_resource.setdefault(where, []).append(violation)
    for where in sorted(by_resource, key=lambda w: (w != "stack", w)):
        lines.append(f"  {where}")
        for violation in sorted(by_resource[where], key=lambda v: (v.enforcement != "mandatory", v.policy)):
            lines.append(f"    [{violation.enforcement}] {violation.policy}: {violation.message}")
    return "\n".join(lines)


def run_preview_command(
    stack: str, project_dir: Path, as_json: bool, output_format: str = "text", output: Path | None = None
) -> int:
    """The `ml-infra preview` command. Returns the exit status: 0 ok, 1 a mandatory guardrail violation or
    an idle cost above the stack's budget, 2 unusable config or files.

    `output_format` "terraform-plan" writes the evaluation as Terraform plan JSON (`ml_infra.terraform_plan`)
    to `output` (or stdout), and the guardrail verdict to stderr.

    The guardrail rules (`ml_infra.guardrails`, the same ones the policy pack runs in `pulumi preview`) judge
    what the program declared, for the environment the stack's `environment` config names. The budget gate
    prices the same evaluation (`ml_infra.cost`) when the stack sets `budgetMonthlyUsd`.
    """
    from ml_infra import console
    from ml_infra.guardrails.offline import check_evaluation
    from ml_infra.program_inputs import ContractFilesError, StackConfigError

    files: StackFiles | None = None
    try:
        files = read_stack_files(project_dir.resolve(), stack)
        evaluation = evaluate(project_dir, stack)
    except ProjectFileError as error:
        for problem in error.problems:
            console.error(problem)
        return 2
    except StackConfigError as error:
        # One line per problem, naming the file the key comes from: `<file>: <key>: <what>; <allowed>`.
        for problem in error.config_error.problems:
            top = problem.key.split(".", 1)[0].split("[", 1)[0]
            source = files.sources.get(top, files.stack_file) if files else f"Pulumi.{stack}.yaml"
            if problem.key.startswith("project name ") and files and files.stack_file:
                source = files.stack_file.parent / "Pulumi.yaml"  # the project's name is Pulumi.yaml's `name`
            console.error(f"{source}: {problem}")
        console.line(f"{error.config_error.summary}; nothing was evaluated or written.", stderr=True)
        return 2
    except ContractFilesError as error:
        for problem in error.contract_error.problems:
            console.error(problem)
        return 2
    environment = files.config.get(f"{files.project}:environment", "prod")
    report = check_evaluation(evaluation, environment)
    if output_format == "terraform-plan":
        from ml_infra.terraform_plan import write_plan

        return write_plan(evaluation, output, project_dir) or (1 if report.mandatory else 0)
    if as_json:
        document = evaluation.to_json()
        document["violations"] = [violation.to_json() for violation in report.violations]
        console.json_document(document, indent=2)
    else:
        console.line(render_text(evaluation))
        console.line(render_violations(report.violations, environment))
    over_budget = _budget_gate(evaluation, files, stack)
    return 1 if report.mandatory or over_budget else 0


def _budget_gate(evaluation: Evaluation, files: StackFiles, stack: str) -> bool:
    """Whether the stack's idle cost exceeds its budget (`budgetMonthlyUsd`, validated by the program already);
    says so on stderr."""
    from ml_infra import console
    from ml_infra.cost import budget_problem, cost_report

    key = f"{files.project}:budgetMonthlyUsd"
    budget = int(files.config.get(key, "0"))
    if budget <= 0:
        return False
    problem = budget_problem(cost_report(evaluation), budget, f"Pulumi.{stack}.yaml", key)
    if problem is not None:
        console.error(problem)
    return problem is not None
