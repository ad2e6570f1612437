from datetime import datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_tenants.utils import schema_context

from notifications.models import Channel, Delivery, DeliveryStatus
from notifications.pipeline.replay import deliveries_replay
from tenants.selectors import tenant_list_active

UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
BATCH = 1000


def parse_since(value: str) -> datetime:
    """An ISO-8601 time, or a duration back from now: 30m, 12h, 7d."""
    if value and value[-1] in UNITS and value[:-1].isdigit():
        return timezone.now() - timedelta(**{UNITS[value[-1]]: int(value[:-1])})
    parsed = parse_datetime(value)
    if parsed is None:
        raise CommandError(f"--since takes an ISO-8601 time or a duration like 12h, not {value!r}")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


class Command(BaseCommand):
    help = "Re-queue dead-lettered deliveries (all tenants, or one), optionally by channel and age."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="tenant slug (default: every active tenant)")
        parser.add_argument("--channel", choices=Channel.values)
        parser.add_argument(
            "--since", help="only deliveries dead-lettered since: ISO time or 12h/7d"
        )

    def handle(self, *args, **options):
        tenants = tenant_list_active()
        if options["tenant"]:
            tenants = tenants.filter(slug=options["tenant"])
            if not tenants.exists():
                raise CommandError(f"no active tenant '{options['tenant']}'")
        since = parse_since(options["since"]) if options["since"] else None
        total = 0
        for tenant in tenants:
            with schema_context(tenant.schema_name):
                queryset = Delivery.objects.filter(status=DeliveryStatus.DEAD)
                if options["channel"]:
                    queryset = queryset.filter(channel=options["channel"])
                if since:
                    queryset = queryset.filter(updated_at__gte=since)
                replayed = 0
                last = 0
                while True:
                    ids = list(
                        queryset.filter(pk__gt=last)
                        .order_by("pk")
                        .values_list("pk", flat=True)[:BATCH]
                    )
                    if not ids:
                        break
                    replayed += deliveries_replay(delivery_ids=ids)
                    last = ids[-1]
            if replayed:
                self.stdout.write(f"{tenant.slug}: re-queued {replayed} dead deliveries")
            total += replayed
        self.stdout.write(f"re-queued {total} dead deliveries")
