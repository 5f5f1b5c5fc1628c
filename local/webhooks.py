"""make serve's outbound settings: loopback addresses allowed (a webhook receiver or a file server on this machine,
over plain http too), and the webhooks' signing secret, which the deployed API keeps in Secrets Manager: here the
user's WEBHOOK_SECRET (the shell or --env-vars), else one made for this run and printed, for a local receiver."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping

SECRET_VARIABLE = "WEBHOOK_SECRET"


def new_secret() -> str:
    """A secret in the form standardwebhooks.Webhook(secret) takes: whsec_ and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def outbound_overrides(configured: Mapping[str, str], made: str) -> dict[str, str]:
    """The variables every function gets: loopback allowed, and the user's secret if set, else `made`."""
    return {"OUTBOUND_ALLOW_LOOPBACK": "true", SECRET_VARIABLE: configured.get(SECRET_VARIABLE) or made}


def describe(configured: Mapping[str, str], made: str) -> str:
    """What make serve prints about webhooks (the secret itself only when it was made for this run)."""
    if configured.get(SECRET_VARIABLE):
        return "Webhooks: signed with WEBHOOK_SECRET (yours); loopback receivers and audio_url hosts allowed"
    return (
        f"Webhooks: signed with a secret made for this run (set WEBHOOK_SECRET to keep one): {made}\n"
        "  loopback receivers and audio_url hosts allowed (plain http too)"
    )
