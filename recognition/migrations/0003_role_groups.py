"""Create the role groups: uploaders, reviewers, admins."""

from django.db import migrations

ROLE_GROUPS = ("uploaders", "reviewers", "admins")


def create_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLE_GROUPS:
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("recognition", "0002_documents_and_review"),
    ]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
