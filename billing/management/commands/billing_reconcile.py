from django.core.management.base import BaseCommand

from billing.services import sessions_unbilled_charge
from sandbox.services import sandbox_sessions_reaped


class Command(BaseCommand):
    help = (
        "Closes the session records whose owning process on this host has ended, then "
        "charges every ended session that was never charged (a worker that died before "
        "its close). Safe to run at any time and as often as wanted: a session is never "
        "charged twice."
    )

    def handle(self, *args, **options) -> None:
        closed = sandbox_sessions_reaped(container_names=set())
        charged = sessions_unbilled_charge()
        self.stdout.write(f"closed {closed} orphaned session(s), charged {charged} session(s)")
