from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from billing import live, receivers
        from billing.models import LedgerEntry
        from connections.signals import pixelml_checked
        from sandbox.models import Execution
        from sandbox.signals import reaped, session_closed, session_opened

        post_save.connect(live.entry_saved, sender=LedgerEntry, dispatch_uid="billing-live")
        post_save.connect(
            live.execution_saved, sender=Execution, dispatch_uid="billing-live-executions"
        )
        session_opened.connect(receivers.session_opened_bind, dispatch_uid="billing-bind")
        session_closed.connect(receivers.session_closed_charge, dispatch_uid="billing-charge")
        reaped.connect(receivers.reaped_charge, dispatch_uid="billing")
        pixelml_checked.connect(receivers.pixelml_checked_balance, dispatch_uid="billing")
