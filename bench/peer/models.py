from django.db import models


class PeerEvent(models.Model):
    """One accepted event; the table is created by the benchmark (`TABLE_SQL`)."""

    event = models.CharField(max_length=200)
    transaction_id = models.CharField(max_length=200, unique=True)
    recipients = models.JSONField()
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "peer"
        db_table = "peer_event"
        managed = False

    def __str__(self) -> str:
        return self.transaction_id


TABLE_SQL = """
    CREATE TABLE IF NOT EXISTS peer_event (
        id bigserial PRIMARY KEY,
        event varchar(200) NOT NULL,
        transaction_id varchar(200) NOT NULL UNIQUE,
        recipients jsonb NOT NULL,
        payload jsonb NOT NULL,
        created_at timestamptz NOT NULL
    )
"""
