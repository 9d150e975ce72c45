"""The repository's price file (`prices.yaml`, shipped with the package) and its typed reading.

Every price `ml-infra cost` uses is written in that one file, each with its region, unit, the public page it was
read from (and whether that page is the provider's own or a third party's) and the date it was read;
`load_prices` checks the file against `PriceFile` and refuses a malformed or duplicated entry, or a third-party
page passed off as first-party, naming it.
"""

from __future__ import annotations

import datetime
from importlib import resources
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PRICE_FILE_NAME = "prices.yaml"

Driver = Literal["requests_per_month", "capture_gb_per_month", "log_gb_per_month"]

# The providers' own hosts: a price read there is first-party. Anything else (a blog, a calculator, a copy of a
# provider's price file in someone's repository) is third-party and must say so (`source_kind: third-party`), so
# the report can tell a user which figures rest on someone else's reading.
FIRST_PARTY_HOSTS = (
    "aws.amazon.com",
    "docs.aws.amazon.com",
    "pricing.us-east-1.amazonaws.com",
    "cloud.google.com",
    "azure.microsoft.com",
    "learn.microsoft.com",
    "prices.azure.com",
)


def is_first_party(address: str) -> bool:
    """Whether an address is one of the providers' own pages or price files."""
    host = (urlsplit(address).hostname or "").lower()
    return any(host == known or host.endswith("." + known) for known in FIRST_PARTY_HOSTS)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(_Strict):
    resource_type: str = Field(pattern=r"^[a-z0-9-]+:[A-Za-z0-9/]+:[A-Za-z0-9]+$")
    variant: str | None = None
    kind: Literal["idle", "usage"]
    price: float = Field(ge=0)
    unit: str = Field(min_length=1)
    per: int = Field(1, ge=1)
    driver: Driver | None = None
    region: str = Field(min_length=1)
    source: str = Field(pattern=r"^https://")
    source_kind: Literal["first-party", "third-party"]
    cites: str | None = Field(None, pattern=r"^https://")  # the provider's source a third-party page quotes
    read: datetime.date
    note: str = ""

    @model_validator(mode="after")
    def _source_kind_matches_the_source(self) -> Price:
        if self.source_kind == "first-party" and not is_first_party(self.source):
            raise ValueError(
                f"{self.source} is not a provider's own page ({', '.join(FIRST_PARTY_HOSTS)}): "
                "mark it source_kind: third-party"
            )
        if self.source_kind == "third-party" and is_first_party(self.source):
            raise ValueError(f"{self.source} is a provider's own page: mark it source_kind: first-party")
        if self.cites is not None and self.source_kind == "first-party":
            raise ValueError(
                "`cites` names the provider source a third-party page quotes; a first-party price has none"
            )
        return self

    @property
    def third_party(self) -> bool:
        return self.source_kind == "third-party"

    @model_validator(mode="after")
    def _idle_units(self) -> Price:
        if self.kind == "idle" and self.unit not in ("month", "hour", "day"):
            raise ValueError(f"an idle price is per month, hour or day, not per {self.unit!r}")
        if self.kind == "idle" and (self.driver is not None or self.per != 1):
            raise ValueError("an idle price has no driver and no `per`")
        return self

    def applies_in(self, region: str | None) -> bool:
        return self.region == "*" or (region is not None and self.region == region)


class Unpriced(_Strict):
    """A billable type (or one variant of it, or one region) whose price could not be read, and why."""

    resource_type: str
    kind: Literal["idle", "usage"] = "idle"  # usage: a usage-driven price (per request, per GB) not read
    variant: str | None = None  # None: every variant without a price
    region: str | None = None  # None: every region without a price
    unit: str | None = (
        None  # usage only: the quantity the missing price is per (a resource may have other usage prices)
    )
    reason: str = Field(min_length=1)

    @model_validator(mode="after")
    def _usage_names_its_unit(self) -> Unpriced:
        if (self.kind == "usage") != (self.unit is not None):
            raise ValueError("an unpriced usage price names its `unit`; an unpriced idle price has none")
        return self

    def matches(self, resource_type: str, variant: str | None, region: str | None, kind: str = "idle") -> bool:
        return (
            self.kind == kind
            and self.resource_type == resource_type
            and self.variant in (None, variant)
            and self.region in (None, region)
        )


class PriceFile(_Strict):
    currency: Literal["USD"]
    prices: list[Price]
    unpriced: list[Unpriced] = Field(default_factory=list)

    @model_validator(mode="after")
    def _no_duplicates(self) -> PriceFile:
        # One idle price per type, variant and region (the report multiplies exactly one); usage prices may
        # differ by unit (per request, per GB).
        seen: set[tuple[str, str | None, str, str, str]] = set()
        for price in self.prices:
            unit = price.unit if price.kind == "usage" else ""
            key = (price.resource_type, price.variant, price.kind, unit, price.region)
            if key in seen:
                raise ValueError(f"two prices for {key}")
            seen.add(key)
        unpriced = [(u.resource_type, u.kind, u.variant, u.region, u.unit) for u in self.unpriced]
        for entry in sorted({t for t in unpriced if unpriced.count(t) > 1}, key=str):
            raise ValueError(f"{entry} is listed twice under unpriced")
        return self

    def covered_types(self) -> set[str]:
        """Every resource type the file speaks for: priced, or listed as unpriced with a reason."""
        return {p.resource_type for p in self.prices} | {u.resource_type for u in self.unpriced if u.kind == "idle"}

    def unpriced_reason(
        self, resource_type: str, variant: str | None = None, region: str | None = None, kind: str = "idle"
    ) -> str | None:
        """Why no price was read for this type (the most specific entry: variant and region before the type)."""
        matching = [u for u in self.unpriced if u.matches(resource_type, variant, region, kind)]
        matching.sort(key=lambda u: (u.variant is None, u.region is None))
        return matching[0].reason if matching else None

    def unpriced_usage(
        self, resource_type: str, variant: str | None, region: str | None, priced_units: set[str]
    ) -> list[str]:
        """The usage prices that apply to this resource but were not read (`unit: reason`), leaving out the units
        a price was found for."""
        return [
            f"{u.unit}: {u.reason}"
            for u in self.unpriced
            if u.matches(resource_type, variant, region, "usage") and u.unit not in priced_units
        ]

    def find(
        self, resource_type: str, variant: str | None, kind: Literal["idle", "usage"], region: str | None
    ) -> list[Price]:
        """The prices of `resource_type`/`variant` of `kind` valid in `region` (a regional price wins over "*")."""
        matching = [
            p
            for p in self.prices
            if p.resource_type == resource_type and p.variant == variant and p.kind == kind and p.applies_in(region)
        ]
        regional = [p for p in matching if p.region != "*"]
        return regional or matching


class PriceFileError(Exception):
    """The price file is missing or malformed."""


def default_price_file() -> Path:
    return Path(str(resources.files("ml_infra.pricing").joinpath(PRICE_FILE_NAME)))


def load_prices(path: Path | None = None) -> PriceFile:
    path = path or default_price_file()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        return PriceFile.model_validate(document)
    except FileNotFoundError as err:
        raise PriceFileError(f"{path}: not found") from err
    except yaml.YAMLError as err:
        raise PriceFileError(f"{path}: not valid YAML: {err}") from err
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or '<file>'}: {e['msg'].removeprefix('Value error, ')}"
            for e in err.errors(include_url=False)
        )
        raise PriceFileError(f"{path}: {problems}") from err
