"""An in-process fake of the Azure App Configuration data plane (REST API 2024-09-01), for tests and benchmarks.

Layout as moto's: `state.AppConfigState` holds the store (key-values with labels, tags and locks, revisions,
labels, snapshots, snapshot operations) and knows nothing of HTTP; `transport.FakeAppConfigTransport` is an
azure-core transport that the official clients are given with `transport=` (`AzureAppConfigurationClient`,
and `azure.appconfiguration.provider.load`, which passes it on); `spec.SpecValidator` checks every response
against the REST spec in `../shared/specs/azure-appconfiguration-2024-09-01.json` before the SDK sees it.
`credential.StaticTokenCredential` satisfies the SDK's bearer-token policy.

Behaviour taken from the Azure SDK's recorded sessions against the live service (public repository
`Azure/azure-sdk-assets`, `python/sdk/appconfiguration/azure-appconfiguration/tests/recordings/`):

- `test_azure_appconfiguration_client.pyTestAppConfigurationClientAADtest_create_snapshot.json`: ETags are sent
  quoted in the `ETag` header and unquoted in the body; `PUT /snapshots/{name}` answers 201 with status
  `provisioning`, `items_count` 0, an `Operation-Location` of `/operations?snapshot=<name>` and a `Link` to the
  items; `GET /operations` answers `Running` with `Retry-After: 10` (twice in that session) and then
  `Succeeded` without it; the snapshot is then `ready` with its item count; `PATCH` with `{"status":
  "archived"}` sets `expires` = now + `retention_period`; filters are echoed with `"tags": []`; a list of all
  key-values without a label filter returns every label.
- `...test_set_configuration_setting_wrong_etag.json`: a PUT whose `If-Match` does not match answers 412 with
  an empty body (`Content-Length: 0`).
- `...test_set_read_only.json`: `PUT /locks/{key}` locks (body `locked: true`, new ETag); a PUT or DELETE of a
  locked key answers 409 with problem+json `type https://azconfig.io/errors/key-locked`, the title
  "Modifing key '<key>' is not allowed" (sic) and detail "The key is read-only. To allow modification unlock it
  first."; `DELETE /locks/{key}` unlocks; deleting a key-value answers 200 with the deleted key-value, or 204
  when there was none.
- 429: no Python recording shows throttling. The `retry-after-ms` header is what the Java SDK's Spring App
  Configuration client reads from a 429 of this service, and what azure-core's retry policy honours; the fake
  answers 429 with it (and a problem+json body) when told to (`throttle`).

Fidelity limits (what the fake does not do, or does differently):

- fields the live service sends as `null` (`label`, `content_type`, `description`, ...) are left out: the
  2024-09-01 spec types them as strings, and `description` is not in that API version at all;
- one API version (2024-09-01, the spec's; SDK 1.10 defaults to 2026-04-01, so clients are built with
  `api_version="2024-09-01"`), anything else is 400;
- authentication is checked only for the presence of a bearer token, never its audience, signature or role
  (App Configuration RBAC is not modelled: every caller is a Data Owner);
- no replicas, no geo failover, no Sync-Token consistency semantics (the header is sent, never honoured), no
  `Accept-Datetime` time travel, no key-value size or store quota limits, no request throttling unless asked;
- snapshot provisioning advances by operation polls (`provisioning_polls`), not by time; retention expiry
  happens when the state's clock passes `expires` or when a test calls `expire_snapshot`;
- page size is 100 (the service's), page ETags are a hash of the page's item ETags;
- key and label filters implement exact, `prefix*`, comma alternatives, `\\0` and escapes; not the service's
  full validation of reserved characters.
"""

from .credential import StaticTokenCredential
from .spec import API_VERSION, SpecValidator, SpecViolation
from .state import AppConfigState, FakeAppConfigError
from .transport import FakeAppConfigTransport

ENDPOINT = "https://fake-store.azconfig.io"

__all__ = [
    "API_VERSION",
    "ENDPOINT",
    "AppConfigState",
    "FakeAppConfigError",
    "FakeAppConfigTransport",
    "SpecValidator",
    "SpecViolation",
    "StaticTokenCredential",
]
