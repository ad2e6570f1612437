"""The other ends of push: a browser holding a Web Push subscription, a Google service account.

Real keys, so the real connector code signs, encrypts and authenticates exactly as it would
in production, and the tests decrypt and verify what arrived.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Browser:
    """A browser's push subscription: its P-256 key pair and auth secret."""

    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    endpoint: str

    @property
    def subscription(self) -> dict:
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)},
        }

    def decrypt(self, body: bytes) -> dict:
        plain = http_ece.decrypt(
            body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm"
        )
        return json.loads(plain)


def browser(server, name: str = "sub-1") -> Browser:
    """A browser subscribed at the fake push service `server`, under /push/<name>."""
    return Browser(
        ec.generate_private_key(ec.SECP256R1()), os.urandom(16), f"{server.url}/push/{name}"
    )


@dataclass
class ServiceAccount:
    info: dict  # the service account's JSON key
    public_pem: bytes  # to verify the JWTs it signs


def service_account_for(project: str) -> ServiceAccount:
    """A throwaway Google service account of `project` with a fresh RSA key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    info = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": f"{project}-key",
        "private_key": private_pem,
        "client_email": f"clarion@{project}.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    return ServiceAccount(info=info, public_pem=public_pem)


def fake_fcm(server, *, project: str, message_name: str, token: str = "ya29.fake-token") -> None:
    """Plan `server` to answer as Google's token endpoint and FCM's messages:send."""
    server.respond(
        200,
        {"access_token": token, "expires_in": 3600, "token_type": "Bearer"},
        path_prefix="/token",
    )
    server.respond(200, {"name": f"projects/{project}/messages/{message_name}"}, path_prefix="/v1/")
