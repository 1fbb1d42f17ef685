from celery import shared_task

from billing.services import sessions_unbilled_charge


@shared_task
def billing_reconcile() -> int:
    """Charges ended sessions that were never charged; returns how many."""
    return sessions_unbilled_charge()
