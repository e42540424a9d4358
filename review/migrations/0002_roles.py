"""The two roles: Reviewer (review and nothing more) and Editorial lead (everything editorial)."""
from django.contrib.auth.management import create_permissions
from django.db import migrations

REVIEWER = [
    ("review", "add_decision"), ("review", "view_decision"), ("review", "view_claim"),
    ("catalog", "view_track"), ("catalog", "view_analysis"), ("catalog", "view_genre"),
]
LEAD_APPS = ("catalog", "review")


def add_roles(apps, schema_editor):
    for config in apps.get_app_configs():  # permissions normally appear only after all migrations
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    reviewer, _ = Group.objects.get_or_create(name="Reviewer")
    reviewer.permissions.set([Permission.objects.get(content_type__app_label=app, codename=code)
                              for app, code in REVIEWER])
    lead, _ = Group.objects.get_or_create(name="Editorial lead")
    lead.permissions.set(Permission.objects.filter(content_type__app_label__in=LEAD_APPS))


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["Reviewer", "Editorial lead"]).delete()


class Migration(migrations.Migration):
    dependencies = [("review", "0001_initial"), ("catalog", "0003_import_batches"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(add_roles, remove_roles)]
