"""Benchmark: the tenant dashboard's queries on a tenant with a million deliveries.

Writes `--deliveries` rows (default 1,000,000) spread over 180 days, every channel and
status (mostly sent, as in life), with PostgreSQL's own generate_series, VACUUM ANALYZEs,
then prints EXPLAIN (ANALYZE, BUFFERS) of each query the dashboard runs and the time of
one whole dashboard render (the admin index through the test client).

Usage: python bench/dashboard_queries.py [--deliveries 1000000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import bench_env, create_tenant, in_schema, machine, prepare  # noqa: E402


def generate(count: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO notifications_notification
                (id, event, priority, status, transaction_id, request_hash, payload, recipients,
                 broadcast, request_id, attempts, last_error, created_at)
            SELECT gen_random_uuid(), 'bench.event', 'normal', 'processed', 'bench-' || n, 'h',
                   '{}', '{}', false, '', 1, '', now() - (n || ' minutes')::interval
            FROM generate_series(1, %s) AS n
            """,
            [max(count // 1000, 1)],
        )
        # Statuses weighted as a working tenant's: mostly sent/delivered, a few failures.
        cursor.execute(
            """
            WITH notes AS (SELECT id, row_number() OVER () - 1 AS i FROM notifications_notification)
            INSERT INTO notifications_delivery
                (notification_id, subscriber_ref, step_index, channel, template_key, variant,
                 provider, priority, status, attempts, max_attempts, last_error,
                 last_error_class, provider_message_id, digest_key, created_at, updated_at)
            SELECT notes.id, 'bench-' || n, n %% 1000,
                   (ARRAY['email','sms','push','chat','in_app'])[1 + n %% 5],
                   'tpl', '', '', 'normal',
                   (ARRAY['sent','sent','sent','sent','delivered','delivered','opened',
                          'clicked','skipped','failed','dead','bounced','queued','pending'])
                       [1 + (n::bigint * 7919) %% 14],
                   1, 5, '', '', '', '',
                   now() - ((n::bigint * 7919 %% 259200) || ' minutes')::interval,
                   now()
            FROM generate_series(0, %s - 1) AS n
            JOIN notes ON notes.i = n / 1000
            """,
            [count],
        )
    connection.cursor().execute("VACUUM ANALYZE notifications_delivery")


def explain(queryset) -> str:
    from django.db import connection

    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    args = parser.parse_args()
    env = bench_env()
    prepare(env=env)
    tenant, _key = create_tenant("bench")

    from django.db.models import Count, Q
    from django.utils import timezone

    from notifications.models import Delivery
    from notifications.selectors.dashboard import DAY, PROBLEM_STATUSES, WEEK
    from notifications.selectors.deliveries import BACKLOG_FILTER

    print(machine())
    with in_schema(tenant.schema_name):
        started = time.perf_counter()
        generate(args.deliveries)
        print(f"generated {Delivery.objects.count():,} deliveries in "
              f"{time.perf_counter() - started:.0f} s")  # fmt: skip
        now = timezone.now()
        queries = {
            "charts (24 h and 7 days, one GROUP BY)": Delivery.objects.filter(
                created_at__gte=now - WEEK, created_at__lte=now
            )
            .order_by()
            .values_list("channel", "status")
            .annotate(week=Count("id"), day=Count("id", filter=Q(created_at__gte=now - DAY))),
            "failed and dead per channel": Delivery.objects.filter(status__in=PROBLEM_STATUSES)
            .order_by()
            .values_list("channel", "status")
            .annotate(n=Count("id")),
            "queue backlog per priority": Delivery.objects.filter(BACKLOG_FILTER)
            .order_by()
            .values_list("priority", "status")
            .annotate(n=Count("id")),
        }
        for name, queryset in queries.items():
            print(f"\n--- {name}\n{explain(queryset)}")

    from django.contrib.auth import get_user_model
    from django.test import Client
    from django_tenants.utils import schema_context

    with schema_context(tenant.schema_name):
        get_user_model().objects.create_superuser("bench", "bench@bench.test", "bench-pass-1")
    client = Client(HTTP_HOST="bench.localhost")
    with schema_context(tenant.schema_name):  # the session lives in the tenant's schema
        assert client.login(username="bench", password="bench-pass-1")
    for _ in range(3):
        started = time.perf_counter()
        response = client.get("/admin/")
        print(f"dashboard page: HTTP {response.status_code} in "
              f"{(time.perf_counter() - started) * 1000:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
