"""Editorial leads may call the CMS API with their session (catalog.use_cms_api).

Staff used to pass on being staff alone, which let reviewers in too; the API now asks for the
permission. 0002_roles gave leads every catalog permission that existed then, which missed
use_cms_api where catalog.0004 ran later (installs older than the API): grant it here.
"""
from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant_leads(apps, schema_editor):
    config = apps.get_app_config("catalog")
    config.models_module = True  # permissions normally appear only after all migrations
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    lead = apps.get_model("auth", "Group").objects.filter(name="Editorial lead").first()
    if lead:
        lead.permissions.add(*apps.get_model("auth", "Permission").objects.filter(
            content_type__app_label="catalog", codename="use_cms_api"))


class Migration(migrations.Migration):
    dependencies = [("review", "0004_catalog_labels"), ("catalog", "0004_apiclient")]
    operations = [migrations.RunPython(grant_leads, migrations.RunPython.noop)]
