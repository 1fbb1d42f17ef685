from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "sandbox"

    def ready(self) -> None:
        from connections.signals import pixelml_deleting
        from sandbox import receivers

        pixelml_deleting.connect(receivers.pixelml_delete_refusal, dispatch_uid="sandbox")
