"""How billing hears of the sandbox engine, which does not know it: a session is bound
to its workspace's account as it opens and charged to it when its close is announced;
after each reap (in every process that runs sessions, now and then) the sessions it
closed, and any a dead worker left uncharged, are charged. A charge is written once
whoever asks (billing.services.session_charge)."""

import logging

from billing.metering import ADD_CREDITS
from billing.selectors import balance_of_key
from billing.services import session_account_bind, session_charge, sessions_unbilled_charge

logger = logging.getLogger(__name__)


def session_opened_bind(*, session, **_) -> None:
    """Raises into the opening when the binding cannot be written: no session runs
    without knowing who pays."""
    session_account_bind(session=session)


def session_closed_charge(*, session, **_) -> None:
    """Charges a session as it closes; never raises into the close: a charge that
    fails here is made by the next reconciliation."""
    if session.workspace_id is None:  # operator runs and benchmarks are not charged
        return
    try:
        session_charge(session_id=session.pk)
    except Exception:
        logger.exception("Session %s could not be charged at its close.", session.pk)


def pixelml_checked_balance(*, key, **_) -> tuple[str, bool]:
    """The balance, told with a PixelML connection's Test; a warning when it is empty."""
    balance = balance_of_key(key=key)
    if balance <= 0:
        return (
            f"But its account has no credits ({_credits(balance)}): code will not run until "
            f"some are granted. {ADD_CREDITS}",
            True,
        )
    return f"Balance: {_credits(balance)} credits.", False


def _credits(value) -> str:
    return f"{value.normalize():f}"


def reaped_charge(**_) -> None:
    sessions_unbilled_charge()
