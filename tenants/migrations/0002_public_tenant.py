from django.db import migrations


def create_public_tenant(apps, schema_editor):
    """The platform itself is the `public` tenant: its hosts serve the platform admin."""
    Tenant = apps.get_model("tenants", "Tenant")
    Tenant.objects.get_or_create(
        schema_name="public", defaults={"slug": "public", "name": "Clarion platform"}
    )


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]

    operations = [migrations.RunPython(create_public_tenant, migrations.RunPython.noop)]
