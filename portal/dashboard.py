"""The workspace overview: one card per area the member's role can see."""

from dataclasses import dataclass

from django.template.defaultfilters import filesizeformat
from django.urls import reverse

from connections.selectors import active_pixelml_connection, connections_of_workspace
from drive.selectors import drive_usage
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
    cards = [_code_execution_card(membership)]
    if membership.role in (Role.ADMIN, Role.MEMBER):
        cards.append(_drive_card(membership))
    if membership.role == Role.ADMIN:
        cards += [_connections_card(membership), _members_card(membership)]
    return cards


def _code_execution_card(membership: Membership) -> Card:
    pixelml = active_pixelml_connection(workspace=membership.workspace)
    is_admin = membership.role == Role.ADMIN
    url = reverse("connections:list", kwargs={"ws": membership.workspace.slug})
    if pixelml is None:
        return Card(
            title="Code execution",
            figure="Off",
            detail="Needs an active PixelML connection, which pays for sandbox time.",
            url=url if is_admin else None,
            link_text="Add the PixelML key",
        )
    return Card(
        title="Code execution",
        figure="Available",
        detail=f"Paid by the PixelML account “{pixelml.pixelml_key.name}”.",
        url=url if is_admin else None,
        link_text="View connections",
    )


def _drive_card(membership: Membership) -> Card:
    count, size = drive_usage(workspace=membership.workspace)
    return Card(
        title="Drive",
        figure=str(count),
        detail=f"file{'s' if count != 1 else ''}, {filesizeformat(size)} in all",
        url=reverse("drive:browse", kwargs={"ws": membership.workspace.slug}),
        link_text="Open Drive",
    )


def _connections_card(membership: Membership) -> Card:
    connections = list(connections_of_workspace(workspace=membership.workspace))
    providers = sum(1 for c in connections if not c.is_pixelml)
    return Card(
        title="Connections",
        figure=str(len(connections)),
        detail=f"{providers} LLM provider{'s' if providers != 1 else ''}",
        url=reverse("connections:list", kwargs={"ws": membership.workspace.slug}),
        link_text="Manage connections",
    )


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
