"""Clarion settings: 12-factor, every variable documented in `.env.example`."""

from .api import *  # noqa: F403
from .base import *  # noqa: F403
from .celery import *  # noqa: F403
from .cors import *  # noqa: F403
from .feedback import *  # noqa: F403
from .grpc import *  # noqa: F403
from .logging import *  # noqa: F403
from .notifications import *  # noqa: F403
from .observability import *  # noqa: F403
from .stream import *  # noqa: F403
from .tenants import *  # noqa: F403
