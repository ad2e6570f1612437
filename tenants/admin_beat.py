"""django-celery-beat's schedules in the platform admin: beat reads them from the database.

The sweeper's entry (`deliveries-sweep`) is written from settings (SWEEP_INTERVAL_SECONDS)
each time beat starts; other periodic tasks added here stay as they are written.
"""

from django_celery_beat.admin import (
    ClockedScheduleAdmin,
    CrontabScheduleAdmin,
    IntervalScheduleAdmin,
    PeriodicTaskAdmin,
    SolarScheduleAdmin,
)
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from platform_core.admin_sites import platform_admin_site

for model, model_admin in (
    (PeriodicTask, PeriodicTaskAdmin),
    (IntervalSchedule, IntervalScheduleAdmin),
    (CrontabSchedule, CrontabScheduleAdmin),
    (ClockedSchedule, ClockedScheduleAdmin),
    (SolarSchedule, SolarScheduleAdmin),
):
    platform_admin_site.register(model, model_admin)
