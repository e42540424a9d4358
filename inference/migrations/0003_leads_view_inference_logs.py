"""Editorial leads may view the inference logs: classification calls, teacher targets, retrain runs.

They watch throughput and promote models, so the call log and the closed loop's runs are part of
their job; 0002_roles (review) gave them catalog and review only, and these pages answered 403.
View only: the rows are written by the API and the workers.
"""
from django.contrib.auth.management import create_permissions
from django.db import migrations

LEAD_VIEWS = [("inference", "view_classificationcall"), ("inference", "view_teachertarget"),
              ("inference", "view_retrainrun")]


def grant_leads(apps, schema_editor):
    config = apps.get_app_config("inference")
    config.models_module = True  # permissions normally appear only after all migrations
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    lead = apps.get_model("auth", "Group").objects.filter(name="Editorial lead").first()
    if lead:
        Permission = apps.get_model("auth", "Permission")
        lead.permissions.add(*[Permission.objects.get(content_type__app_label=app, codename=code)
                               for app, code in LEAD_VIEWS])


def revoke_leads(apps, schema_editor):
    lead = apps.get_model("auth", "Group").objects.filter(name="Editorial lead").first()
    if lead:
        Permission = apps.get_model("auth", "Permission")
        lead.permissions.remove(*Permission.objects.filter(
            content_type__app_label="inference", codename__in=[code for _, code in LEAD_VIEWS]))


class Migration(migrations.Migration):
    dependencies = [("inference", "0002_teacher_targets_and_retrain_runs"), ("review", "0002_roles")]
    operations = [migrations.RunPython(grant_leads, revoke_leads)]
