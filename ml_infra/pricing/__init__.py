"""The repository's price file (`prices.yaml`, shipped with the package) and its typed reading.

Every price `ml-infra cost` uses is written in that one file, each with its region, unit, the public page it was
read from and the date it was read; `load_prices` checks the file against `PriceFile` and refuses a malformed or
duplicated entry, naming it.
"""

from __future__ import annotations

import datetime
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PRICE_FILE_NAME = "prices.yaml"

Driver = Literal["requests_per_month", "capture_gb_per_month"]


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
    read: datetime.date
    note: str = ""

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
    resource_type: str
    reason: str = Field(min_length=1)


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
        unpriced = [u.resource_type for u in self.unpriced]
        for resource_type in sorted({t for t in unpriced if unpriced.count(t) > 1}):
            raise ValueError(f"{resource_type} is listed twice under unpriced")
        return self

    def covered_types(self) -> set[str]:
        """Every resource type the file speaks for: priced, or listed as unpriced with a reason."""
        return {p.resource_type for p in self.prices} | {u.resource_type for u in self.unpriced}

    def unpriced_reason(self, resource_type: str) -> str | None:
        return next((u.reason for u in self.unpriced if u.resource_type == resource_type), None)

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
