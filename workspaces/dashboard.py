"""The workspace overview: one card per area the member's role can see."""

from dataclasses import dataclass

from django.urls import reverse

from workspaces.models import Membership, Role
from workspaces.selectors import members_of_workspace


@dataclass(frozen=True)
class Card:
    title: str
    figure: str
    detail: str
    url: str | None = None
    link_text: str = ""


def dashboard_cards(*, membership: Membership) -> list[Card]:
    cards = []
    if membership.role == Role.ADMIN:
        cards.append(_members_card(membership))
    return cards


def _members_card(membership: Membership) -> Card:
    members = members_of_workspace(workspace=membership.workspace)
    admins = sum(1 for m in members if m.role == Role.ADMIN)
    total = len(members)
    return Card(
        title="Members",
        figure=str(total),
        detail=f"{admins} admin{'s' if admins != 1 else ''}",
        url=reverse("member_list", kwargs={"ws": membership.workspace.slug}),
        link_text="Manage members",
    )
