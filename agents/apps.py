from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"

    def ready(self) -> None:
        from agents.services.turns import turns_orphaned_end
        from sandbox.signals import reaped

        # The reaper runs in every process that runs turns, and at start-up.
        reaped.connect(lambda **_: turns_orphaned_end(), weak=False, dispatch_uid="agents")
