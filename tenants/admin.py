"""Platform admin: tenants, their domains and API keys (a new key is shown once)."""

from django import forms
from django.contrib import admin, messages

from platform_core.admin_sites import platform_admin_site
from tenants import (
    admin_beat,  # noqa: F401 - registers the beat schedules' pages
    cache,
)
from tenants.models import (
    RESERVED_SLUGS,
    ApiKey,
    Domain,
    Tenant,
    normalize_origin,
    validate_origin,
)
from tenants.services import api_key_create, api_keys_revoke, tenant_default_domain


class TenantForm(forms.ModelForm):
    class Meta:
        model = Tenant
        fields = (
            "slug",
            "name",
            "is_active",
            "timezone",
            "cors_allowed_origins",
            "api_rate_limits",
        )

    def clean_cors_allowed_origins(self):
        origins = [normalize_origin(o) for o in self.cleaned_data["cors_allowed_origins"] or []]
        errors = []
        for origin in origins:
            try:
                validate_origin(origin)
            except forms.ValidationError as exc:
                errors.append(f"'{origin}': {exc.messages[0]}")
        if errors:
            raise forms.ValidationError(errors)
        return list(dict.fromkeys(o for o in origins if o))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "timezone" in self.fields:
            self.fields["timezone"].required = False

    def clean_timezone(self):
        # Blank: the default, UTC.
        return self.cleaned_data["timezone"].strip() or "UTC"

    def clean_slug(self):
        slug = self.cleaned_data["slug"]
        if slug in RESERVED_SLUGS or slug.startswith("pg"):
            raise forms.ValidationError(f"'{slug}' is reserved.")
        return slug


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


@admin.register(Tenant, site=platform_admin_site)
class TenantAdmin(admin.ModelAdmin):
    form = TenantForm
    list_display = ("slug", "name", "schema_name", "is_active", "timezone", "created_at")
    list_filter = ("is_active",)
    search_fields = ("slug", "name")
    inlines = [DomainInline]

    def get_readonly_fields(self, request, obj=None):
        return ("schema_name", "slug", "created_at") if obj else ("schema_name", "created_at")

    def get_fields(self, request, obj=None):
        fields = (
            "slug",
            "name",
            "is_active",
            "timezone",
            "cors_allowed_origins",
            "api_rate_limits",
        )
        return fields + (("schema_name", "created_at") if obj else ())

    def get_queryset(self, request):
        return super().get_queryset(request).exclude(schema_name="public")

    def save_model(self, request, obj, form, change):
        if not change:
            # Creating the schema migrates it; the tenant's host defaults to <slug>.<suffix>.
            obj.schema_name = obj.slug.replace("-", "_")
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        obj = form.instance
        if not obj.domains.exists():
            Domain.objects.create(
                tenant=obj, domain=tenant_default_domain(slug=obj.slug), is_primary=True
            )
        # This process serves the change at once; others within CLARION_AUTH_CACHE_SECONDS.
        cache.clear()


@admin.register(Domain, site=platform_admin_site)
class DomainAdmin(admin.ModelAdmin):
    list_display = ("domain", "tenant", "is_primary")
    search_fields = ("domain", "tenant__slug")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        cache.clear()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        cache.clear()


class ApiKeyAddForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ("tenant", "name")


@admin.register(ApiKey, site=platform_admin_site)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("prefix", "tenant", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = ("tenant",)
    search_fields = ("prefix", "name", "tenant__slug")
    actions = ["revoke"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("tenant")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "tenant":
            kwargs["queryset"] = Tenant.objects.exclude(schema_name="public")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("tenant", "name")
        return ("tenant", "name", "prefix", "created_at", "last_used_at", "revoked_at")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("tenant", "prefix", "created_at", "last_used_at", "revoked_at")

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        key, secret = api_key_create(tenant=obj.tenant, name=obj.name)
        obj.pk = key.pk
        obj.refresh_from_db()
        messages.warning(
            request,
            f"API key for {key.tenant.slug}: {secret} — copy it now; it is not stored and "
            "will not be shown again.",
        )

    @admin.action(description="Revoke selected API keys")
    def revoke(self, request, queryset):
        count = api_keys_revoke(keys=queryset)
        self.message_user(request, f"Revoked {count} key(s).")
