from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"

    def ready(self) -> None:
        from agents import receivers
        from agents.services.turns import turns_orphaned_end
        from connections.signals import pixelml_withdrawn
        from sandbox.signals import reaped

        # The reaper runs in every process that runs turns, and at start-up.
        reaped.connect(lambda **_: turns_orphaned_end(), weak=False, dispatch_uid="agents")
        pixelml_withdrawn.connect(receivers.pixelml_withdrawn_stop, dispatch_uid="agents")
