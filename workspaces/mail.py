"""Email: whether this Turnbox delivers it, and the invitation message.

Only delivered email proves that a person owns an address. So with email, an invitation
link goes to the address alone and no page shows it; without email (the embedded
default writes messages to files in the data folder), the admin is shown the link and
told plainly that whoever opens it claims the address. Password-reset messages are
Django's own (templates/registration/).
"""

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from workspaces.models import Invitation


def email_delivers() -> bool:
    return settings.TURNBOX_EMAIL_DELIVERS


def delivery_statement() -> str:
    """One line for the log at start-up: where email goes."""
    if email_delivers():
        return (
            f"Email: sent through {settings.EMAIL_HOST}:{settings.EMAIL_PORT} as "
            f"{settings.DEFAULT_FROM_EMAIL}; invitations and password resets go by email."
        )
    return (
        "Email: not configured (set EMAIL_URL), nothing is delivered; messages are "
        f"written to {settings.EMAIL_FILE_PATH}. Invitation links are shown to the admin "
        "who makes them, and forgotten passwords are reset by the operator."
    )


def invitation_email_send(*, invitation: Invitation, link: str) -> None:
    """Sends the link to the invited address; raises what the SMTP server refused."""
    context = {"invitation": invitation, "link": link}
    send_mail(
        subject=f"Join {invitation.workspace.name} on Turnbox",
        message=render_to_string("workspaces/invitation_email.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
        fail_silently=False,
    )
