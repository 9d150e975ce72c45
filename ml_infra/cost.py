"""What a stack costs: the monthly bill of leaving it up with no traffic, and the usage-driven prices on top.

`cost_report` prices the offline preview's evaluation (`ml_infra.preview.evaluate`: the real program on Pulumi's
mock runtime, so what is priced is exactly what `pulumi up` would declare) with the repository's price file
(`ml_infra/pricing/prices.yaml`). Each billable resource gets an idle monthly cost, how it was computed (its
pricing basis), and the usage-driven prices that apply to it, estimated under assumptions a user can change
(requests per month, captured GB per month, log GB per month, hours per month). A resource whose price is not in
the file is listed as unknown with the reason, never guessed; the report says how many billable resources it
could price, and which figures rest on third-party pages rather than the providers' own.

Infracost prices Terraform plans and does not read Pulumi programs, so the pricing rules (which input selects
which price: a SKU, a tier, an instance type and count) are written here, one function per billable type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ml_infra.pricing import Price, PriceFile, load_prices

if TYPE_CHECKING:  # the evaluation comes from the Pulumi mock runtime; pricing it needs no Pulumi SDK
    from ml_infra.preview import Evaluation, Registration

# Types that cost nothing while they exist, whatever they are used for, each with the reason. Providers and
# component resources are not cloud resources at all and are left out before this list is consulted.
FREE_TYPES: dict[str, str] = {
    "aws:iam/policy:Policy": "IAM is a feature of the AWS account offered at no additional charge",
    "aws:iam/role:Role": "IAM is a feature of the AWS account offered at no additional charge",
    "aws:iam/rolePolicy:RolePolicy": "IAM is a feature of the AWS account offered at no additional charge",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "IAM is offered at no additional charge",
    "aws:kms/alias:Alias": "an alias is a name for a key; only the key is billed",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "bucket setting; S3 bills storage and requests",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "bucket setting; S3 bills storage and requests",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "bucket setting; S3 bills storage and requests (SSE-KMS requests are KMS usage)"
    ),
    "aws:s3/bucketVersioning:BucketVersioning": "bucket setting; stored versions are S3 storage",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "bucket setting; S3 bills storage",
    "aws:s3/bucketPolicy:BucketPolicy": "bucket setting; S3 bills storage and requests",
    "aws:sagemaker/model:Model": "a model definition; SageMaker bills the endpoint that serves it",
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": "a definition; SageMaker bills the endpoint",
    "aws:appautoscaling/target:Target": "Application Auto Scaling has no charge of its own",
    "aws:appautoscaling/policy:Policy": "Application Auto Scaling has no charge of its own (its alarms are free)",
    "aws:appsync/dataSource:DataSource": "part of the API; AppSync bills operations on the API",
    "aws:appsync/resolver:Resolver": "part of the API; AppSync bills operations on the API",
    "aws:appsync/apiKey:ApiKey": "part of the API; AppSync bills operations on the API",
    "aws:glue/registry:Registry": "the AWS Glue Schema Registry is serverless and free to use",
    "aws:glue/schema:Schema": "the AWS Glue Schema Registry is serverless and free to use",
    "aws:glue/securityConfiguration:SecurityConfiguration": "a Glue setting with no charge; KMS bills the key",
    "aws:s3/bucketObjectv2:BucketObjectv2": "an object is S3 storage, billed with its bucket (a job script: a few KB)",
    "azure-native:resources:ResourceGroup": "a resource group is a container with no charge",
    "azure-native:appconfiguration:KeyValue": "key-values are part of the store; the store is billed",
    "azure-native:authorization:RoleAssignment": "Azure RBAC role assignments have no charge",
    "aws:s3/bucketLogging:BucketLogging": "bucket setting; the log objects it writes are S3 storage",
    "aws:wafv2/webAclAssociation:WebAclAssociation": "WAF bills the web ACL and its rules, not the association",
    "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration": (
        "WAF bills no logging configuration; the logs are billed where they are delivered (the log group)"
    ),
    "gcp:kms/keyRing:KeyRing": "key rings have no charge; Cloud KMS bills key versions and operations",
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": "IAM bindings have no charge",
    "gcp:projects/service:Service": "enabling an API has no charge",
    "gcp:projects/serviceIdentity:ServiceIdentity": "a Google-managed service agent has no charge",
}

DEFAULT_REQUESTS_PER_MONTH = 100_000
DEFAULT_CAPTURE_GB_PER_MONTH = 1.0
DEFAULT_LOG_GB_PER_MONTH = 1.0
# 730 hours: the month the AWS, Azure and GCP price calculators use (8,760 hours a year / 12).
DEFAULT_HOURS_PER_MONTH = 730.0


@dataclass(frozen=True)
class Assumptions:
    """What the usage estimates and the hourly idle prices assume; every value can be changed on the command line.

    The request count is applied to every request-priced resource as if each request reached it (an upper bound
    when requests fan out to fewer services)."""

    requests_per_month: int = DEFAULT_REQUESTS_PER_MONTH
    capture_gb_per_month: float = DEFAULT_CAPTURE_GB_PER_MONTH
    hours_per_month: float = DEFAULT_HOURS_PER_MONTH
    log_gb_per_month: float = DEFAULT_LOG_GB_PER_MONTH  # written to each log group

    @property
    def days_per_month(self) -> float:
        return self.hours_per_month / 24

    def quantity(self, driver: str | None) -> float | None:
        return {
            "requests_per_month": float(self.requests_per_month),
            "capture_gb_per_month": self.capture_gb_per_month,
            "log_gb_per_month": self.log_gb_per_month,
        }.get(driver or "")

    def to_json(self) -> dict[str, float]:
        return {
            "requests_per_month": self.requests_per_month,
            "capture_gb_per_month": self.capture_gb_per_month,
            "log_gb_per_month": self.log_gb_per_month,
            "hours_per_month": self.hours_per_month,
        }


@dataclass(frozen=True)
class UsagePrice:
    """A price per use of one resource, and what it comes to under the assumptions (None: no driver)."""

    description: str
    price: float
    unit: str
    per: int
    driver: str | None
    monthly_estimate: float | None
    source: str
    third_party: bool = False
    quantity_note: str = ""  # how the quantity was derived from the assumption, when not taken as is

    def to_json(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "price": self.price,
            "unit": self.unit,
            "per": self.per,
            "driver": self.driver,
            "quantity_note": self.quantity_note,
            "monthly_estimate": _money(self.monthly_estimate),
            "source": self.source,
            "source_kind": "third-party" if self.third_party else "first-party",
        }


@dataclass(frozen=True)
class ResourceCost:
    type: str
    name: str
    cloud: str
    region: str | None
    idle_monthly: float | None  # None: unknown
    basis: str  # how the idle cost was computed, or why it is unknown
    usage: tuple[UsagePrice, ...] = ()
    sources: tuple[str, ...] = ()
    third_party_sources: tuple[str, ...] = ()  # the subset of `sources` that are not the provider's own pages
    usage_unpriced: tuple[str, ...] = ()  # usage-driven prices that apply but could not be read, with the reason

    @property
    def known(self) -> bool:
        return self.idle_monthly is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "cloud": self.cloud,
            "region": self.region,
            "idle_monthly_cost": _money(self.idle_monthly),
            "pricing_basis": self.basis,
            "sources": list(self.sources),
            "third_party_sources": list(self.third_party_sources),
            "usage_prices": [u.to_json() for u in self.usage],
            "usage_unpriced": list(self.usage_unpriced),
        }


@dataclass
class CostReport:
    stack: str
    currency: str
    assumptions: Assumptions
    resources: list[ResourceCost]
    free: list[tuple[str, str]] = field(default_factory=list)  # (type, name) of resources that cost nothing

    @property
    def priced(self) -> list[ResourceCost]:
        return [r for r in self.resources if r.known]

    @property
    def unknown(self) -> list[ResourceCost]:
        return [r for r in self.resources if not r.known]

    @property
    def on_third_party_figures(self) -> list[ResourceCost]:
        """Priced resources whose idle or usage price comes from a third-party page."""
        return [r for r in self.resources if r.third_party_sources]

    def third_party_sources(self) -> list[str]:
        return sorted({source for r in self.resources for source in r.third_party_sources})

    @property
    def idle_monthly_total(self) -> float:
        """The idle cost of the priced resources: a lower bound when some are unknown."""
        return round(sum(r.idle_monthly or 0.0 for r in self.resources), 2)

    @property
    def usage_monthly_estimate(self) -> float:
        return round(sum(u.monthly_estimate or 0.0 for r in self.resources for u in r.usage), 2)

    def idle_by_cloud(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for resource in self.resources:
            totals[resource.cloud] = totals.get(resource.cloud, 0.0) + (resource.idle_monthly or 0.0)
        return {cloud: round(total, 2) for cloud, total in sorted(totals.items())}

    def unused_assumptions(self) -> list[str]:
        """Assumptions no price in the report depends on (their price is not in the price file)."""
        used = {u.driver for r in self.resources for u in r.usage if u.driver}
        return [name for name in ("requests_per_month", "capture_gb_per_month", "log_gb_per_month") if name not in used]

    def coverage(self) -> str:
        return f"{len(self.priced)} of {len(self.resources)} billable resources priced"

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "currency": self.currency,
            "idle_monthly_total": self.idle_monthly_total,
            "idle_monthly_total_is_lower_bound": bool(self.unknown),
            "idle_monthly_by_cloud": self.idle_by_cloud(),
            "usage_monthly_estimate": self.usage_monthly_estimate,
            "assumptions": self.assumptions.to_json(),
            "assumptions_without_a_price": self.unused_assumptions(),
            "billable_resources": len(self.resources),
            "priced_resources": len(self.priced),
            "priced_on_third_party_figures": len(self.on_third_party_figures),
            "third_party_sources": self.third_party_sources(),
            "free_resources": len(self.free),
            "resources": [r.to_json() for r in self.resources],
            "unknown": [{"type": r.type, "name": r.name, "reason": r.basis} for r in self.unknown],
        }


def _money(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def cloud_of(resource_type: str) -> str:
    provider = resource_type.split(":", 1)[0]
    return {"azure-native": "azure"}.get(provider, provider)


def is_cloud_resource(registration: Registration) -> bool:
    """Providers and component resources are Pulumi's own: they exist in no cloud and are never billed."""
    return registration.custom and not registration.type.startswith("pulumi:providers:")


# ---------------------------------------------------------------------------------------------------------------
# Pricing one resource


@dataclass
class _Context:
    evaluation: Evaluation
    prices: PriceFile
    assumptions: Assumptions
    by_urn: dict[str, Registration]

    def region_of(self, registration: Registration) -> str | None:
        inputs = registration.raw_inputs
        for key in ("region", "location"):
            if isinstance(inputs.get(key), str):
                return inputs[key]
        provider_urn = (registration.provider or "").rsplit("::", 1)[0]
        provider = self.by_urn.get(provider_urn)
        if provider is None:
            return None
        value = provider.raw_inputs.get("region") or provider.raw_inputs.get("location")
        return value if isinstance(value, str) else None


def _hours_factor(unit: str, assumptions: Assumptions) -> float:
    return {"month": 1.0, "hour": assumptions.hours_per_month, "day": assumptions.hours_per_month / 24}[unit]


def _describe(price: Price, count: float, assumptions: Assumptions) -> str:
    quantity = f"{count:g} x " if count != 1 else ""
    if price.unit == "month":
        return f"{quantity}{_usd(price.price)}/month"
    return f"{quantity}{_usd(price.price)}/{price.unit} x {_hours_factor(price.unit, assumptions):g} {price.unit}s"


# How one resource turns an assumption into the quantity a usage price is charged on: (quantity or None when no
# assumption estimates it, a note saying how it was derived). None: the assumption as is.
QuantityRule = Callable[[Price, Assumptions], tuple[float | None, str]]


def _usage(
    prices: Iterable[Price], assumptions: Assumptions, rule: QuantityRule | None = None
) -> tuple[UsagePrice, ...]:
    lines = []
    for price in prices:
        quantity, note = rule(price, assumptions) if rule else (assumptions.quantity(price.driver), "")
        estimate = None if quantity is None else price.price * quantity / price.per
        per = f"{price.per:,} " if price.per != 1 else ""
        lines.append(
            UsagePrice(
                description=f"${price.price:g} per {per}{price.unit}s"
                if price.per != 1
                else f"${price.price:g}/{price.unit}",
                price=price.price,
                unit=price.unit,
                per=price.per,
                driver=price.driver,
                monthly_estimate=estimate,
                source=price.source,
                third_party=price.third_party,
                quantity_note=note,
            )
        )
    return tuple(lines)


def _priced(
    context: _Context,
    registration: Registration,
    variant: str | None,
    count: float,
    what: str,
    unknown_reason: str | None = None,
    quantity_rule: QuantityRule | None = None,
) -> ResourceCost:
    """The cost of `count` units of the `variant` price of this resource's type, or unknown with the reason."""
    region = context.region_of(registration)
    prices = context.prices
    idle = prices.find(registration.type, variant, "idle", region)
    usage = _usage(prices.find(registration.type, variant, "usage", region), context.assumptions, quantity_rule)
    usage_gaps = prices.unpriced_usage(registration.type, variant, region, {u.unit for u in usage})
    base = {
        "type": registration.type,
        "name": registration.name,
        "cloud": cloud_of(registration.type),
        "region": region,
        "usage": usage,
        "usage_unpriced": tuple(usage_gaps),
    }
    if unknown_reason is not None or not idle:
        reason = unknown_reason or (
            f"no price for {what} in {region or 'this region'} in the price file"
            + (f" ({note})" if (note := prices.unpriced_reason(registration.type, variant, region)) else "")
        )
        return ResourceCost(**base, idle_monthly=None, basis=reason)
    (price,) = idle
    monthly = price.price * _hours_factor(price.unit, context.assumptions) * count
    basis = f"{what}: {_describe(price, count, context.assumptions)}"
    third_party = {price.source} if price.third_party else set()
    third_party |= {u.source for u in usage if u.third_party}
    return ResourceCost(
        **base,
        idle_monthly=monthly,
        basis=basis,
        sources=tuple(sorted({price.source, *(u.source for u in usage)})),
        third_party_sources=tuple(sorted(third_party)),
    )


def _inputs(registration: Registration) -> dict[str, Any]:
    return registration.revealed_inputs


def _kms_key(context: _Context, r: Registration) -> ResourceCost:
    return _priced(context, r, None, 1, "1 customer-managed key")


def _alarm(context: _Context, r: Registration) -> ResourceCost:
    period = _inputs(r).get("period")
    variant = "high-resolution" if isinstance(period, int | float) and period < 60 else "standard"
    return _priced(context, r, variant, 1, f"1 {variant} alarm")


def _ssm_parameter(context: _Context, r: Registration) -> ResourceCost:
    tier = _inputs(r).get("tier") or "Standard"
    return _priced(context, r, str(tier), 1, f"1 {tier} parameter")


def _steady_state_note(gb: float, days: float, why: str) -> str:
    return f"{gb:.2f} GB stored in steady state ({why} {days:g} days)"


def _bucket(context: _Context, r: Registration) -> ResourceCost:
    """An empty bucket costs nothing. Its storage price is estimated for the bucket an endpoint captures data into:
    with captured data expiring after N days, the bucket holds N days' worth of capture once it has run that long.
    What other services write (access logs) follows no assumption and is not estimated."""
    name = r.state.get("bucket") or _inputs(r).get("bucket")
    capture_prefixes = [
        uri.removeprefix(f"s3://{name}").strip("/")
        for config in context.evaluation.of_type("aws:sagemaker/endpointConfiguration:EndpointConfiguration")
        if isinstance(capture := _inputs(config).get("dataCaptureConfig"), dict)
        and capture.get("enableCapture", True)
        and isinstance(uri := capture.get("destinationS3Uri"), str)
        and name
        and (uri == f"s3://{name}" or uri.startswith(f"s3://{name}/"))
    ]
    expirations = [
        float(rule["expiration"]["days"])
        for lifecycle in context.evaluation.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
        if name and _inputs(lifecycle).get("bucket") == name
        for rule in _inputs(lifecycle).get("rules") or []
        if rule.get("status") == "Enabled"
        and isinstance((rule.get("expiration") or {}).get("days"), int | float)
        and any(f"{p}/".startswith(str((rule.get("filter") or {}).get("prefix") or "")) for p in capture_prefixes)
    ]

    def stored(price: Price, a: Assumptions) -> tuple[float | None, str]:
        if not capture_prefixes:
            return None, "no assumption: holds what other services write, not captured data"
        if not expirations:
            return None, "captured data never expires here, so storage grows every month"
        days = min(expirations)
        gb = a.capture_gb_per_month * days / a.days_per_month
        return gb, _steady_state_note(gb, days, "captured data expires after")

    return _priced(context, r, None, 1, "empty bucket", quantity_rule=stored)


def _log_group(context: _Context, r: Registration) -> ResourceCost:
    """A log group nothing writes to costs nothing. Ingestion is charged on the GB written a month; storage on the
    GB held, which with a retention of N days is N days' worth of ingestion once the group has run that long."""
    retention = _inputs(r).get("retentionInDays")

    def quantity(price: Price, a: Assumptions) -> tuple[float | None, str]:
        if "stored" not in price.unit:
            return a.log_gb_per_month, ""
        if not isinstance(retention, int | float) or retention <= 0:
            return None, "logs never expire here, so storage grows every month"
        gb = a.log_gb_per_month * retention / a.days_per_month
        return gb, _steady_state_note(gb, retention, "retention")

    return _priced(context, r, None, 1, "empty log group", quantity_rule=quantity)


def _graphql_api(context: _Context, r: Registration) -> ResourceCost:
    return _priced(context, r, None, 1, "API without cache")


def _dynamodb_table(context: _Context, r: Registration) -> ResourceCost:
    mode = _inputs(r).get("billingMode") or "PROVISIONED"
    return _priced(context, r, str(mode), 1, f"{mode} table")


def _app_configuration(context: _Context, r: Registration) -> ResourceCost:
    sku = str((_inputs(r).get("sku") or {}).get("name") or "").lower()
    return _priced(context, r, sku, 1, f"1 {sku} store")


def _crypto_key(context: _Context, r: Registration) -> ResourceCost:
    inputs = _inputs(r)
    protection = str((inputs.get("versionTemplate") or {}).get("protectionLevel") or "SOFTWARE")
    return _priced(context, r, protection, 1, f"1 active {protection} key version (each rotation adds one)")


# AWS managed rule groups that carry a subscription and per-request fee of their own (the price file has none).
PAID_WAF_RULE_GROUPS = frozenset(
    {"AWSManagedRulesBotControlRuleSet", "AWSManagedRulesATPRuleSet", "AWSManagedRulesACFPRuleSet"}
)


def _web_acl(context: _Context, r: Registration) -> ResourceCost:
    """A web ACL bills itself and each of its rules (a managed rule group counts as one rule) every month."""
    rules = _inputs(r).get("rules") or []
    paid = sorted(
        group["name"]
        for rule in rules
        if isinstance(group := (rule.get("statement") or {}).get("managedRuleGroupStatement"), dict)
        and (group.get("vendorName") != "AWS" or group.get("name") in PAID_WAF_RULE_GROUPS)
    )
    if paid:
        return _priced(context, r, "web-acl", 0, "web ACL", unknown_reason=f"paid rule groups {', '.join(paid)}")
    acl = _priced(context, r, "web-acl", 1, "1 web ACL")
    per_rule = _priced(context, r, "rule", len(rules), f"{len(rules)} rules")
    if not (acl.known and per_rule.known):
        return acl if not acl.known else per_rule
    return ResourceCost(
        type=acl.type,
        name=acl.name,
        cloud=acl.cloud,
        region=acl.region,
        idle_monthly=(acl.idle_monthly or 0.0) + (per_rule.idle_monthly or 0.0),
        basis=f"{acl.basis} + {per_rule.basis}",
        usage=acl.usage,
        sources=tuple(sorted({*acl.sources, *per_rule.sources})),
        third_party_sources=tuple(sorted({*acl.third_party_sources, *per_rule.third_party_sources})),
        usage_unpriced=acl.usage_unpriced,
    )


def _glue_job(context: _Context, r: Registration) -> ResourceCost:
    return _priced(context, r, None, 1, "job definition (each run bills DPU-hours)")


def _endpoint(context: _Context, r: Registration) -> ResourceCost:
    """An endpoint bills what its configuration's variants run: serverless, or instances of a type, as many as
    autoscaling keeps at its minimum (the count an idle endpoint settles at)."""
    config_name = _inputs(r).get("endpointConfigName")
    configs = [
        c
        for c in context.evaluation.of_type("aws:sagemaker/endpointConfiguration:EndpointConfiguration")
        if c.state.get("name") == config_name
    ]
    if len(configs) != 1:
        return _priced(context, r, None, 0, "endpoint", unknown_reason="its endpoint configuration is not declared")
    variants = _inputs(configs[0]).get("productionVariants") or []
    if len(variants) != 1:
        return _priced(context, r, None, 0, "endpoint", unknown_reason="endpoints with several variants are not priced")
    (variant,) = variants
    if variant.get("serverlessConfig"):
        if variant["serverlessConfig"].get("provisionedConcurrency"):
            return _priced(context, r, "serverless", 0, "serverless", unknown_reason="provisioned concurrency")
        return _priced(context, r, "serverless", 1, "serverless, scales to zero")
    instance_type = variant.get("instanceType")
    count = variant.get("initialInstanceCount") or 1
    endpoint_name = _inputs(r).get("name") or r.state.get("name")
    resource_id = f"endpoint/{endpoint_name}/variant/{variant.get('variantName')}"
    for target in context.evaluation.of_type("aws:appautoscaling/target:Target"):
        if _inputs(target).get("resourceId") == resource_id:
            count = _inputs(target).get("minCapacity") or count
    return _priced(context, r, str(instance_type), int(count), f"{int(count)} x {instance_type} (autoscaling minimum)")


PRICERS: dict[str, Callable[[_Context, Registration], ResourceCost]] = {
    "aws:kms/key:Key": _kms_key,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _alarm,
    "aws:ssm/parameter:Parameter": _ssm_parameter,
    "aws:s3/bucket:Bucket": _bucket,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:appsync/graphQLApi:GraphQLApi": _graphql_api,
    "aws:dynamodb/table:Table": _dynamodb_table,
    "aws:sagemaker/endpoint:Endpoint": _endpoint,
    "aws:glue/job:Job": _glue_job,
    "aws:wafv2/webAcl:WebAcl": _web_acl,
    "azure-native:appconfiguration:ConfigurationStore": _app_configuration,
    "gcp:kms/cryptoKey:CryptoKey": _crypto_key,
}


def billable_types_not_covered(evaluation: Evaluation, prices: PriceFile) -> set[str]:
    """Types the program declares that are neither free (FREE_TYPES) nor spoken for by the price file."""
    declared = {r.type for r in evaluation.resources if is_cloud_resource(r)}
    return declared - set(FREE_TYPES) - prices.covered_types()


def cost_report(evaluation: Evaluation, prices: PriceFile | None = None, assumptions: Assumptions | None = None):
    """Price every resource the evaluation declares. Resources of a type that is neither free nor priced by a
    rule here are reported as unknown, never skipped."""
    prices = prices or load_prices()
    assumptions = assumptions or Assumptions()
    context = _Context(evaluation, prices, assumptions, {r.urn: r for r in evaluation.resources})
    resources: list[ResourceCost] = []
    free: list[tuple[str, str]] = []
    for registration in sorted(evaluation.resources, key=lambda r: (r.type, r.name)):
        if not is_cloud_resource(registration):
            continue
        if registration.type in FREE_TYPES:
            free.append((registration.type, registration.name))
            continue
        pricer = PRICERS.get(registration.type)
        if pricer is None:
            region = context.region_of(registration)
            reason = prices.unpriced_reason(registration.type, None, region) or "no price for this type in the file"
            resources.append(
                ResourceCost(
                    type=registration.type,
                    name=registration.name,
                    cloud=cloud_of(registration.type),
                    region=region,
                    idle_monthly=None,
                    basis=reason,
                )
            )
            continue
        resources.append(pricer(context, registration))
    return CostReport(
        stack=evaluation.stack, currency=prices.currency, assumptions=assumptions, resources=resources, free=free
    )


# ---------------------------------------------------------------------------------------------------------------
# The budget gate (the offline preview runs it, and so does CI)


def budget_problem(report: CostReport, budget_usd: int, stack_file: str, key: str) -> str | None:
    """The error when the idle estimate exceeds the stack's budget (0: no budget), else None."""
    if budget_usd <= 0 or report.idle_monthly_total <= budget_usd:
        return None
    bound = f" (at least: {len(report.unknown)} billable resource(s) unpriced)" if report.unknown else ""
    biggest = sorted(report.priced, key=lambda r: -(r.idle_monthly or 0))[:3]
    drivers = ", ".join(f"{r.name} ${r.idle_monthly:,.2f}" for r in biggest)
    return (
        f"{stack_file}: {key}: the stack costs ${report.idle_monthly_total:,.2f} per month left idle{bound}, more "
        f"than its budget of ${budget_usd:,}; the largest items are {drivers}. Lower what drives them (see "
        f"`ml-infra cost --stack {report.stack}`) or raise the budget"
    )


# ---------------------------------------------------------------------------------------------------------------
# Rendering


def _usd(value: float | None) -> str:
    return "unknown" if value is None else f"${value:,.2f}"


def _total_line(report: CostReport) -> str:
    bound = f" (lower bound: {len(report.unknown)} unknown)" if report.unknown else ""
    return f"{_usd(report.idle_monthly_total)}{bound}"


def _cell(items: list[ResourceCost]) -> str:
    """`$3.00 (3)`, `unknown (2)` or `$0.00 + 1 unknown (2)`: idle cost of the items and how many there are."""
    if not items:
        return "—"
    known = [r for r in items if r.known]
    unknown = len(items) - len(known)
    parts = [_usd(sum(r.idle_monthly or 0.0 for r in known))] if known else []
    parts += [f"{unknown} unknown" if known else "unknown"] if unknown else []
    return f"{' + '.join(parts)} ({len(items)})"


def render_comparison_markdown(reports: list[CostReport]) -> str:
    """The idle cost of several stacks side by side, per cloud and per resource type, as a Markdown table (the
    README embeds the one for dev and prod)."""
    header = "| | " + " | ".join(f"`{r.stack}`" for r in reports) + " |"
    lines = [header, "| --- |" + " --- |" * len(reports)]

    def row(label: str, cells: list[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    clouds = sorted({r.cloud for report in reports for r in report.resources})
    for cloud in clouds:
        row(f"**{cloud}**", [_cell([r for r in report.resources if r.cloud == cloud]) for report in reports])
    types = sorted({r.type for report in reports for r in report.resources})
    for resource_type in types:
        row(
            f"`{resource_type}`",
            [_cell([r for r in report.resources if r.type == resource_type]) for report in reports],
        )
    row("**idle total / month**", [f"**{_total_line(r)}**" for r in reports])
    row("priced", [f"{len(r.priced)} of {len(r.resources)} billable" for r in reports])
    row("priced from third-party pages", [f"{len(r.on_third_party_figures)} of {len(r.priced)}" for r in reports])
    return "\n".join(lines) + "\n"


def _print_report(report: CostReport) -> None:
    from rich.table import Table

    from ml_infra import console

    out = console.out(wide=True)
    a = report.assumptions
    console.line(
        f"Stack {report.stack}: what it costs left up with no traffic ({report.currency} per month, "
        f"{a.hours_per_month:g} hours; prices from ml_infra/pricing/prices.yaml)"
    )
    table = Table(show_lines=False)
    for column in ("type", "name", "region"):
        table.add_column(column)
    table.add_column("idle / month", justify="right")
    table.add_column("pricing basis")
    for r in report.resources:
        cost = console.literal(_usd(r.idle_monthly)) if r.known else console.styled("unknown", "yellow")
        table.add_row(
            console.literal(r.type),
            console.literal(r.name),
            console.literal(r.region or ""),
            cost,
            console.literal(r.basis),
        )
    out.print(table)
    for cloud, total in report.idle_by_cloud().items():
        unknown = sum(1 for r in report.unknown if r.cloud == cloud)
        console.line(f"  {cloud}: {_usd(total)}" + (f" + {unknown} unknown" if unknown else ""))
    console.line(f"Idle total: {_total_line(report)}; {report.coverage()}; {len(report.free)} more cost nothing.")
    if report.unknown:
        console.line("Unknown (billable, not in the price file; never guessed):")
        for r in report.unknown:
            console.line(f"  {r.type}  {r.name}: {r.basis}")

    usage = Table(title=None)
    usage.add_column("resource")
    usage.add_column("usage price", justify="right")
    usage.add_column("estimate / month", justify="right")
    usage.add_column("how", overflow="fold")
    usage.add_column("source")
    for r in report.resources:
        for u in r.usage:
            estimate = _usd(u.monthly_estimate) if u.monthly_estimate is not None else "(not estimated)"
            usage.add_row(
                console.literal(f"{r.type}  {r.name}"),
                console.literal(u.description),
                console.literal(estimate if u.driver else "(no assumption)"),
                console.literal(u.quantity_note or (f"{u.driver}" if u.driver else "")),
                console.styled("third-party", "yellow") if u.third_party else console.literal("first-party"),
            )
    console.line(
        f"Usage-driven prices, estimated for {a.requests_per_month:,} requests, {a.capture_gb_per_month:g} GB "
        f"captured and {a.log_gb_per_month:g} GB written to each log group per month (change with "
        "--requests-per-month, --capture-gb, --log-gb, --hours; each request is counted at every request-priced "
        "resource):"
    )
    out.print(usage)
    console.line(f"Usage estimate: {_usd(report.usage_monthly_estimate)} per month on top of the idle cost.")
    gaps = [(r, gap) for r in report.resources for gap in r.usage_unpriced]
    if gaps:
        console.line("Usage prices not in the price file (not estimated, never guessed):")
        for r, gap in gaps:
            console.line(f"  {r.type}  {r.name}: {gap}")
    for name in report.unused_assumptions():
        console.line(f"Not estimated: no price in the price file depends on {name}.")
    if report.on_third_party_figures:
        console.line(
            f"{len(report.on_third_party_figures)} of {len(report.priced)} priced resources rest on figures from "
            "third-party pages, not the providers' own (marked third-party in ml_infra/pricing/prices.yaml):"
        )
        for source in report.third_party_sources():
            console.line(f"  {source}")


def run_cost_command(
    stacks: list[str],
    project_dir: Any,
    as_json: bool,
    markdown: bool,
    assumptions: Assumptions,
) -> int:
    """The `ml-infra cost` command: 0 ok, 2 unusable config, files or price file."""
    from ml_infra import console
    from ml_infra.preview import ProjectFileError, evaluate
    from ml_infra.pricing import PriceFileError
    from ml_infra.program_inputs import ContractFilesError, StackConfigError

    try:
        prices = load_prices()
        reports = [cost_report(evaluate(project_dir, stack), prices, assumptions) for stack in stacks]
    except (StackConfigError, ContractFilesError, ProjectFileError, PriceFileError) as error:
        console.error(error)
        return 2
    if as_json:
        document = reports[0].to_json() if len(reports) == 1 else {"stacks": [r.to_json() for r in reports]}
        console.json_document(document, indent=2)
    elif markdown:
        console.line(render_comparison_markdown(reports).rstrip("\n"))
    else:
        for index, report in enumerate(reports):
            if index:
                console.line()
            _print_report(report)
        if len(reports) > 1:
            console.line()
            console.line("Side by side (idle, per month):")
            console.line(render_comparison_markdown(reports).rstrip("\n"))
    return 0
