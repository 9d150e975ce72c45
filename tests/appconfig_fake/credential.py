"""A token credential for the fake: the SDK's bearer-token policy needs one, the fake only checks it is sent."""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken


class StaticTokenCredential:
    def __init__(self, token: str = "fake-token"):
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)
