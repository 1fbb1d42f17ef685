"""The chat playground: a person's own conversations with the workspace's agents.

The page renders the recorded history; ``static/js/playground.js`` follows a running
turn over the websocket (docs/agents.md) and renders the same cells live.
"""

import base64
import binascii
import re

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from agents import selectors as selectors
from agents import turn_states
from agents.models import Conversation, ToolCall, Turn
from agents.services import turns as services
from agents.tools.output import IMAGE_MIMES
from agents.tools.registry import code_of, title_of
from workspaces.access import workspace_view
from workspaces.models import Role

playground_view = workspace_view(roles=selectors.PLAYGROUND_ROLES)

TOOL_BAD_STATUSES = ("error", "timeout", "killed", "cancelled")


@playground_view
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "agents/playground.html", _sidebar_context(request))


@playground_view
@require_POST
def new(request: HttpRequest) -> HttpResponse:
    agents = selectors.agents_for_chat(workspace=request.workspace)
    agent = agents.filter(pk=_int_or_404(request.POST.get("agent"))).first()
    if agent is None:
        raise Http404("No such agent in this workspace.")
    try:
        conversation = services.conversation_create(
            workspace=request.workspace, agent=agent, user=request.user
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("playground:index", ws=request.workspace.slug)
    return redirect("playground:conversation", ws=request.workspace.slug, pk=conversation.pk)


@playground_view
@require_GET
def conversation(request: HttpRequest, pk) -> HttpResponse:
    chat = selectors.conversation_get(workspace=request.workspace, user=request.user, pk=pk)
    running = selectors.running_turn(conversation=chat)
    context = _sidebar_context(request, selected_agent=chat.agent_id, current=chat)
    context |= {
        "conversation": chat,
        "turns": [_turn_view(turn) for turn in selectors.turns_of_conversation(conversation=chat)],
        "state": _page_state(request, chat, running),
    }
    return render(request, "agents/playground.html", context)


@playground_view
@require_POST
def delete(request: HttpRequest, pk) -> HttpResponse:
    chat = selectors.conversation_get(workspace=request.workspace, user=request.user, pk=pk)
    try:
        services.conversation_delete(conversation=chat)
    except services.TurnAlreadyRunning as error:
        messages.error(request, " ".join(error.messages))
        return redirect("playground:conversation", ws=request.workspace.slug, pk=chat.pk)
    messages.success(request, f"Deleted “{chat}”.")
    return redirect("playground:index", ws=request.workspace.slug)


@playground_view
@require_POST
def rename(request: HttpRequest, pk) -> HttpResponse:
    chat = selectors.conversation_get(workspace=request.workspace, user=request.user, pk=pk)
    try:
        services.conversation_rename(conversation=chat, title=request.POST.get("title", ""))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Renamed to “{chat.title}”.")
    return redirect("playground:conversation", ws=request.workspace.slug, pk=chat.pk)


def _int_or_404(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404("No such agent in this workspace.") from None


def _sidebar_context(
    request: HttpRequest, selected_agent: int | None = None, current: Conversation | None = None
) -> dict:
    agents = list(selectors.agents_for_chat(workspace=request.workspace))
    if selected_agent is None:
        wanted = request.GET.get("agent", "")
        selected_agent = int(wanted) if wanted.isdigit() else None
    search = request.GET.get("q", "")[:200]
    return {
        "conversations": _with_states(
            selectors.conversations_of_user(
                workspace=request.workspace, user=request.user, search=search, keep=current
            )
        ),
        "search": search,
        "agents": agents,
        "selected_agent": selected_agent,
        "is_admin": request.membership.role == Role.ADMIN,
        # The agents editor is built elsewhere; a plain path until its URL name exists.
        "new_agent_url": f"/w/{request.workspace.slug}/agents/new/",
    }


def _with_states(conversations) -> list[Conversation]:
    listed = list(conversations)
    for conversation in listed:
        conversation.state_label = selectors.conversation_state_label(conversation)
    return listed


def _page_state(request: HttpRequest, chat: Conversation, running: Turn | None) -> dict:
    state = {
        "conversation": str(chat.pk),
        "ws_path": f"/ws/w/{request.workspace.slug}/conversations/{chat.pk}/",
        "running_turn": str(running.pk) if running else None,
        "running_seconds": 0,
        # Each turn's sandbox starts empty: said at every turn of agents that run code.
        "sandbox_note": chat.agent.code_execution,
        "max_message_chars": services.MAX_MESSAGE_CHARS,
        # The conversation list says its last turn's state as the transcript does.
        "state_labels": {**dict(Turn.State.choices), "running": selectors.RUNNING_LABEL},
    }
    if running and running.started_at:
        elapsed = timezone.now() - running.started_at
        state["running_seconds"] = max(0, int(elapsed.total_seconds()))
    return state


# --- The recorded history, shaped like the cells the JS renders live -------------------


def _turn_view(turn: Turn) -> dict:
    return {
        "turn": turn,
        "cells": _cells(turn),
        "finished": turn.is_finished,
        "bad": turn_states.is_bad(turn),
        "status_text": turn_states.status_text(turn),
    }


def _cells(turn: Turn) -> list[dict]:
    """Assistant text and tool calls in the order they happened: each assistant message's
    text, then the tool calls it asked for. Calls not (yet) in a message come last."""
    calls = {call.call_id: call for call in turn.tool_calls.all()}
    shown: set[int] = set()
    cells: list[dict] = []
    assistant = sorted(
        (m for m in turn.messages.all() if m.role == "assistant"), key=lambda m: m.seq
    )
    for message in assistant:
        if message.content.strip():
            # From its first visible line, as the page's script starts a new bubble.
            text = re.sub(r"^\s*\n", "", message.content)
            cells.append({"kind": "text", "text": text})
        for requested in message.tool_calls or []:
            call = calls.get(str(requested.get("id", "")))
            if call is not None and call.pk not in shown:
                shown.add(call.pk)
                cells.append(_tool_cell(call))
    for call in sorted(calls.values(), key=lambda c: c.seq):
        if call.pk not in shown:
            cells.append(_tool_cell(call))
    return cells


def _tool_cell(call: ToolCall) -> dict:
    arguments = call.arguments if isinstance(call.arguments, dict) else {}
    language, code = code_of(call.name, arguments)
    return {
        "kind": "tool",
        "call": call,
        "title": title_of(call.name, arguments),
        "language": language,
        "code": code,
        "output": _output(call.output),
        "status_text": _tool_status_text(call),
        "bad": call.status in TOOL_BAD_STATUSES,
    }


def _output(entries) -> list[dict]:
    shown: list[dict] = []
    for entry in entries if isinstance(entries, list) else []:
        item = _output_entry(entry)
        # The same notice twice in a row ("Stopped." from two places) is said once.
        if item and not (item["type"] == "notice" and shown and shown[-1] == item):
            shown.append(item)
    return shown


def _output_entry(entry) -> dict | None:
    if not isinstance(entry, dict):
        return None
    kind = entry.get("type")
    if kind in ("stdout", "stderr", "notice"):
        return {"type": kind, "text": str(entry.get("text", ""))}
    if kind == "image" and entry.get("mime") in IMAGE_MIMES:
        return {"type": "image", "src": image_data_url(entry["mime"], entry.get("data", ""))}
    if kind == "file":
        url = str(entry.get("url", ""))
        # Only links within this site: never a javascript: or another host's URL.
        safe = url.startswith("/") and not url.startswith("//")
        return {"type": "file", "path": str(entry.get("path", "")), "url": url if safe else ""}
    return None


def image_data_url(mime: str, data) -> str:
    """Images arrive base64-encoded; SVG may arrive as its markup. Shown in <img>, where
    an SVG's scripts do not run."""
    data = str(data or "")
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        data = base64.b64encode(data.encode()).decode()
    return f"data:{mime};base64,{data}"


def _tool_status_text(call: ToolCall) -> str:
    if call.status == ToolCall.Status.RUNNING:
        return "running…"
    duration = turn_states.format_duration(call.duration_ms)
    return f"{call.status} · {duration}" if duration else call.status
