"""Every PixelML key has its credit account from its issue on, so the operator's list
of accounts shows it with a grant action; keys issued before get theirs here."""

from django.db import migrations


def accounts_create(apps, schema_editor):
    PixelMLKey = apps.get_model("connections", "PixelMLKey")
    CreditAccount = apps.get_model("billing", "CreditAccount")
    missing = PixelMLKey.objects.filter(credit_account__isnull=True)
    CreditAccount.objects.bulk_create(CreditAccount(key=key) for key in missing)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0003_session_account"),
        ("connections", "0001_initial"),
    ]

    operations = [migrations.RunPython(accounts_create, migrations.RunPython.noop)]
