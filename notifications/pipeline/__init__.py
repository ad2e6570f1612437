"""The delivery engine: from an accepted notification to messages at providers.

- `state` is the only code that changes a delivery's (or a notification's) status: every move
  is a conditional update with its history row in the same statement, checked against one
  table of allowed moves.
- `dispatch` is the only code that enqueues pipeline tasks (by name, after commit).
- `fanout` turns a notification into deliveries, streamed in chunks and bulk-written.
- `sending` sends a batch of one channel: `prepare` (shared by both paths: conditions,
  digests, rendering), `inapp` (the database channel) and `providers` (email, SMS, push, chat).
- `retry` decides between a retry with backoff and the dead-letter; `circuit` keeps providers
  that are down out of the way; `replay` sends dead-lettered deliveries again; `sweeper`
  re-dispatches from the database what the broker lost or what has come due.
- `feedback` tells outcomes outwards: the history feed (delivery events → stored webhook
  messages, outcome counters), the webhook sender, and one-click unsubscribe links.

Configuration CRUD lives in `notifications.services`; the tasks in `notifications.tasks`.
"""
