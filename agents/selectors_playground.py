from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from agents.models import Agent, Conversation, ToolCall, Turn
from workspaces.models import User, Workspace


def conversations_of_user(*, workspace: Workspace, user: User) -> QuerySet[Conversation]:
    return Conversation.objects.filter(workspace=workspace, user=user).select_related("agent")


def conversation_get(*, workspace: Workspace, user: User, pk) -> Conversation:
    """The user's own conversation in this workspace; 404 for anyone else's."""
    return get_object_or_404(
        Conversation.objects.select_related("agent", "workspace"),
        workspace=workspace,
        user=user,
        pk=pk,
    )


def conversation_for_socket(*, user: User, workspace_slug: str, pk) -> Conversation | None:
    """Like conversation_get, for consumers: None instead of a 404, and membership checked."""
    if not user.is_authenticated:
        return None
    return (
        Conversation.objects.select_related("agent", "workspace")
        .filter(
            pk=pk,
            user=user,
            workspace__slug=workspace_slug,
            workspace__memberships__user=user,
        )
        .first()
    )


def turns_of_conversation(*, conversation: Conversation) -> QuerySet[Turn]:
    """Turns with their tool calls, oldest first: what the page shows again after a reload."""
    calls = Prefetch("tool_calls", queryset=ToolCall.objects.order_by("seq"))
    return (
        Turn.objects.filter(conversation=conversation)
        .prefetch_related(calls, "messages")
        .order_by("index")
    )


def running_turn(*, conversation: Conversation) -> Turn | None:
    return (
        Turn.objects.filter(
            conversation=conversation, status__in=[Turn.Status.QUEUED, Turn.Status.RUNNING]
        )
        .order_by("-index")
        .first()
    )


def agents_for_chat(*, workspace: Workspace) -> QuerySet[Agent]:
    return Agent.objects.filter(workspace=workspace).select_related("connection")
