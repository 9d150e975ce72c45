"""Limits the clouds enforce, read from the most authoritative source the installed packages ship, so that the
stack config refuses at preview what the cloud would refuse half-way through `pulumi up`.

- AWS, from botocore's own data (the files the AWS SDK itself resolves endpoints and validates requests with):
  the regions of each partition (`partitions.json`), the regions SageMaker runs in (`endpoints.json`), the
  SageMaker instance types an endpoint accepts (the `ProductionVariantInstanceType` enum of the SageMaker
  service model), the endpoint-name pattern (`EndpointName`), CloudWatch Logs' retention values (the `Days`
  shape of the Logs service model, whose documentation lists the values; the API has no enum for them), and
  the tag rules (`TagKey`, `TagValue`, `TagList` of the SageMaker model: at most 50 tags, keys 1-128 and values
  0-256 characters of letters, digits, spaces and `_.:/=+-@`; keys starting with `aws:` are reserved,
  https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html#tag-conventions).
- GCP labels: no installed package carries the rules, so they are the documented ones
  (https://cloud.google.com/resource-manager/docs/labels-overview#requirements): at most 64 labels; keys 1-63
  characters, starting with a lower-case letter; keys and values only lower-case letters, digits, `_` and `-`;
  values at most 63 characters. (GCP allows international lower-case letters too; ASCII is required here.)
- Azure tags: the documented limits
  (https://learn.microsoft.com/azure/azure-resource-manager/management/tag-resources#limitations): at most 50
  tags per resource; names at most 512 characters (128 on storage accounts, the limit used here) without
  `< > % & \\ ? /`; values at most 256 characters.

Patterns from botocore are Java-style (`\\p{L}`); they run on RE2, which reads those classes the same way.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

import re2
from botocore.loaders import create_loader


@functools.cache
def _loader() -> Any:
    return create_loader()


@functools.cache
def _service_shapes(service: str) -> dict[str, Any]:
    return _loader().load_service_model(service, "service-2")["shapes"]


@functools.cache
def aws_regions() -> dict[str, str]:
    """Every AWS region botocore knows, mapped to its partition (`aws`, `aws-cn`, `aws-us-gov`, ...)."""
    regions: dict[str, str] = {}
    for partition in _loader().load_data("partitions")["partitions"]:
        for region in partition.get("regions", {}):
            if not region.endswith("-global"):  # "aws-global" and the like are signing pseudo-regions
                regions[region] = partition["id"]
    return regions


@functools.cache
def aws_dns_suffix(partition: str) -> str:
    """The DNS suffix of a partition's service endpoints (amazonaws.com, amazonaws.com.cn, ...)."""
    for entry in _loader().load_data("partitions")["partitions"]:
        if entry["id"] == partition:
            return entry["outputs"]["dnsSuffix"]
    raise KeyError(partition)


@functools.cache
def service_regions(endpoint_prefix: str) -> frozenset[str]:
    """The regions botocore has an endpoint of the service for (`api.sagemaker`, `appsync`, ...)."""
    found: set[str] = set()
    for partition in _loader().load_data("endpoints")["partitions"]:
        for region in partition["services"].get(endpoint_prefix, {}).get("endpoints", {}):
            if region in aws_regions():  # skips fips-* and *-secondary endpoint variants
                found.add(region)
    return frozenset(found)


@functools.cache
def sagemaker_instance_types() -> frozenset[str]:
    """The instance types a SageMaker endpoint's production variant accepts."""
    return frozenset(_service_shapes("sagemaker")["ProductionVariantInstanceType"]["enum"])


@functools.cache
def sagemaker_endpoint_name() -> tuple[Any, int]:
    """(pattern, maximum length) of a SageMaker endpoint name."""
    shape = _service_shapes("sagemaker")["EndpointName"]
    return re2.compile(shape["pattern"]), int(shape["max"])


@functools.cache
def log_retention_days() -> tuple[int, ...]:
    """The retention periods (days) CloudWatch Logs accepts, from the Logs service model's `Days` shape."""
    documentation = _service_shapes("logs")["Days"]["documentation"]
    match = re.search(r"Possible values are:([0-9,\sand]+)\.", documentation)
    if match is None:  # pragma: no cover - the model changed shape: fail loudly rather than guess
        raise RuntimeError("botocore's CloudWatch Logs model no longer lists the retention values in `Days`")
    return tuple(int(n) for n in re.findall(r"\d+", match.group(1)))


# --------------------------------------------------------------------------------------------------------------
# Tags and labels


@functools.cache
def _aws_tag_rules() -> tuple[Any, int, Any, int, int]:
    shapes = _service_shapes("sagemaker")
    key, value = shapes["TagKey"], shapes["TagValue"]
    return (
        re2.compile(key["pattern"]),
        int(key["max"]),
        re2.compile(value["pattern"]),
        int(value["max"]),
        int(shapes["TagList"]["max"]),
    )


# AWS's limit is botocore's `TagList` max (`aws_max_tags()`); this constant is for import-time use, and a test
# holds it equal to botocore's.
AWS_MAX_TAGS = 50
GCP_MAX_LABELS = 64
GCP_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
GCP_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
AZURE_MAX_TAGS = 50
AZURE_TAG_NAME_MAX = 128
AZURE_TAG_VALUE_MAX = 256
AZURE_TAG_NAME_FORBIDDEN = set("<>%&\\?/")


def aws_max_tags() -> int:
    return _aws_tag_rules()[4]


def tag_problems(key: str, value: str, clouds: frozenset[str]) -> list[str]:
    """What is wrong with one tag (key, value) on the clouds in `clouds` ("aws", "gcp", "azure"): one
    "<what is wrong>; <what is allowed>" text per problem."""
    problems: list[str] = []
    if "gcp" in clouds:
        if not GCP_LABEL_KEY.match(key):
            problems.append(
                f"key {key!r} is not a valid GCP label key; allowed: 1-63 lower-case letters, digits, '_' or '-', "
                "starting with a letter"
            )
        if not GCP_LABEL_VALUE.match(value):
            problems.append(
                f"value {value!r} is not a valid GCP label value; allowed: 0-63 lower-case letters, digits, '_' or '-'"
            )
    if "aws" in clouds:
        key_pattern, key_max, value_pattern, value_max, _ = _aws_tag_rules()
        if key.lower().startswith("aws:"):
            problems.append(f"key {key!r} starts with 'aws:', which AWS reserves for its own tags")
        if not (1 <= len(key) <= key_max and key_pattern.fullmatch(key)):
            problems.append(
                f"key {key!r} is not a valid AWS tag key; allowed: 1-{key_max} letters, digits, spaces and _.:/=+-@"
            )
        if not (len(value) <= value_max and value_pattern.fullmatch(value)):
            problems.append(
                f"value {value!r} is not a valid AWS tag value; allowed: 0-{value_max} letters, digits, spaces and "
                "_.:/=+-@"
            )
    if "azure" in clouds:
        if not 1 <= len(key) <= AZURE_TAG_NAME_MAX or AZURE_TAG_NAME_FORBIDDEN & set(key):
            problems.append(
                f"key {key!r} is not a valid Azure tag name; allowed: 1-{AZURE_TAG_NAME_MAX} characters without "
                "< > % & \\ ? /"
            )
        if len(value) > AZURE_TAG_VALUE_MAX:
            problems.append(f"value is {len(value)} characters; Azure allows at most {AZURE_TAG_VALUE_MAX}")
    return problems


def max_tags(clouds: frozenset[str]) -> tuple[int, str]:
    """The most tags one resource may carry on all of `clouds`, and which cloud sets that limit."""
    limits = {"aws": (aws_max_tags(), "AWS"), "azure": (AZURE_MAX_TAGS, "Azure"), "gcp": (GCP_MAX_LABELS, "GCP")}
    chosen = [limits[c] for c in sorted(clouds) if c in limits] or [limits["aws"]]
    lowest = min(n for n, _ in chosen)
    return lowest, " and ".join(name for n, name in chosen if n == lowest)


def tag_set_problems(tags: Mapping[str, str], clouds: frozenset[str]) -> list[str]:
    """Problems with a whole tag set on `clouds`: its size, then each tag."""
    problems: list[str] = []
    limit, who = max_tags(clouds)
    if len(tags) > limit:
        problems.append(f"makes {len(tags)} tags on every resource; {who} allow at most {limit} per resource")
    for key, value in tags.items():
        problems.extend(tag_problems(key, value, clouds))
    return problems
