from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def generated_secrets_check(app_configs, **kwargs) -> list[Warning]:
    """Generated secrets live in one machine's data folder: fine alone, wrong when scaled."""
    warnings = []
    if settings.SECRET_KEY_GENERATED:
        warnings.append(
            Warning(
                "SECRET_KEY is not set; a key generated into the data folder is used.",
                hint="Set SECRET_KEY (or SECRET_KEY_FILE) so every process shares one key.",
                id="turnbox.W001",
            )
        )
    if settings.ENCRYPTION_KEYS_GENERATED:
        warnings.append(
            Warning(
                "TURNBOX_ENCRYPTION_KEYS is not set; a key generated into the data folder "
                "encrypts connection secrets.",
                hint="Set TURNBOX_ENCRYPTION_KEYS (or _FILE) and keep a backup of it.",
                id="turnbox.W002",
            )
        )
    return warnings
