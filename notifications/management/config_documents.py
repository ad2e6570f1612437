"""What export_config and import_config share: the tenant, and the YAML the document is in."""

from __future__ import annotations

from typing import Any

import yaml
from django.core.management.base import CommandError

from tenants.models import Tenant
from tenants.selectors import tenant_get_by_slug


def tenant_or_error(slug: str) -> Tenant:
    try:
        return tenant_get_by_slug(slug=slug)
    except Tenant.DoesNotExist:
        raise CommandError(f"no tenant '{slug}'") from None


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (template bodies) as literal blocks, readable and diffable."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value and value == value.rstrip(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def document_dump(document: Any) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def document_load(text: str) -> Any:
    """A YAML (or JSON, which is YAML) document; CommandError when it does not parse."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CommandError(f"the file is not valid YAML or JSON: {exc}") from None
