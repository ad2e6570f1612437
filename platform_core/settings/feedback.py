"""Delivery feedback: provider webhooks, click and open tracking, suppressions."""

from .env import env

# The base URL of a tenant's public links (tracking, provider webhooks); `{host}` is the
# tenant's primary domain. `http://{host}:8000` in the demo.
CLARION_TENANT_BASE_URL = env.str("CLARION_TENANT_BASE_URL", default="https://{host}")
# Amazon SNS signing certificates and subscription URLs must match this (an Amazon host).
CLARION_SNS_URL_PATTERN = env.str(
    "CLARION_SNS_URL_PATTERN", default=r"^https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/"
)
