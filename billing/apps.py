from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from billing import live
        from billing.models import LedgerEntry
        from billing.services import sessions_unbilled_charge
        from sandbox.models import Execution
        from sandbox.reaper import reaped

        post_save.connect(live.entry_saved, sender=LedgerEntry, dispatch_uid="billing-live")
        post_save.connect(
            live.execution_saved, sender=Execution, dispatch_uid="billing-live-executions"
        )
        # After each reap (every process that runs sessions, now and then): the sessions
        # it closed, and any a dead worker left uncharged, are charged.
        reaped.connect(lambda **_: sessions_unbilled_charge(), weak=False, dispatch_uid="billing")
