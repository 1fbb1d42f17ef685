"""The playground pages: private conversations, tenancy, and the recorded history."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from agents import selectors
from agents.models import Agent, Conversation, Message, ToolCall, Turn
from workspaces.sockets import socket_membership

PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4"
    "nGNgYGD4DwABBAEAghnXxwAAAABJRU5ErkJggg=="
)


def url(team, name: str, **kwargs) -> str:
    return reverse(f"playground:{name}", kwargs={"ws": team.workspace.slug, **kwargs})


def make_agent(team, name: str = "Analyst", **fields) -> Agent:
    return Agent.objects.create(workspace=team.workspace, name=name, **fields)


def chat(team, user, agent: Agent, title: str = "", *, said: str = "") -> Conversation:
    """A conversation, with one answered message when ``said`` (listed only then)."""
    conversation = Conversation.objects.create(
        workspace=team.workspace, agent=agent, user=user, title=title
    )
    if said:
        Turn.objects.create(
            conversation=conversation, index=1, user_message=said, status="answered"
        )
    return conversation


def state_of(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="playground-state" type="application/json">')
    start = html.index(">", start) + 1
    return json.loads(html[start : html.index("</script>", start)])


@pytest.fixture
def agent(team) -> Agent:
    return make_agent(team, code_execution=True)


def test_the_index_lists_only_ones_own_conversations_newest_first(client_for, team, agent):
    now = timezone.now()
    older = chat(team, team.member, agent, "Older question", said="hi")
    newer = chat(team, team.member, agent, "Newer question", said="hi")
    Conversation.objects.filter(pk=older.pk).update(updated_at=now - timedelta(hours=1))
    Conversation.objects.filter(pk=newer.pk).update(updated_at=now)
    chat(team, team.admin, agent, "The admin's own question", said="hi")

    response = client_for(team.member).get(url(team, "index"))

    assert response.status_code == 200
    html = response.content.decode()
    assert html.index("Newer question") < html.index("Older question")
    assert "The admin&#x27;s own question" not in html
    assert "The admin's own question" not in html
    assert f'<option value="{agent.pk}"' in html
    assert 'data-testid="no-agents"' not in html


def test_the_index_preselects_the_agent_named_in_the_query(client_for, team, agent):
    other = make_agent(team, "Other")

    response = client_for(team.member).get(url(team, "index") + f"?agent={other.pk}")

    assert f'<option value="{other.pk}" selected>' in response.content.decode()


def test_the_privacy_statement_says_what_admins_and_finance_see(client_for, team, agent):
    html = client_for(team.member).get(url(team, "index")).content.decode()
    start = html.split('data-testid="playground-start"')[1].split("</div>")[0]
    assert "admins and finance included" in start
    assert "what each turn cost, how long its code ran, and who ran it" in start


@pytest.mark.parametrize(("role", "sees_link"), [("admin", True), ("member", False)])
def test_without_agents_it_says_so_and_links_admins_to_create_one(
    client_for, team, role, sees_link
):
    response = client_for(team.user(role)).get(url(team, "index"))

    html = response.content.decode()
    assert "This workspace has no agents yet" in html
    assert ('href="/w/acme/agents/new/"' in html) is sees_link
    assert "new-conversation-form" not in html


def test_finance_gets_403_on_every_page(client_for, team, agent):
    conversation = chat(team, team.member, agent)
    client = client_for(team.finance)
    assert client.get(url(team, "index")).status_code == 403
    assert client.post(url(team, "new"), {"agent": agent.pk}).status_code == 403
    assert client.get(url(team, "conversation", pk=conversation.pk)).status_code == 403
    assert client.post(url(team, "delete", pk=conversation.pk)).status_code == 403
    assert Conversation.objects.filter(pk=conversation.pk).exists()


@pytest.mark.parametrize("role", ["admin", "member", "finance"])
def test_the_pages_and_the_websocket_let_in_the_same_roles(client_for, team, agent, role):
    user = team.user(role)
    conversation = chat(team, user, agent)

    page = client_for(user).get(url(team, "conversation", pk=conversation.pk))
    scope = {"user": user, "url_route": {"kwargs": {"ws": team.workspace.slug}}}
    socket = socket_membership(scope, roles=selectors.PLAYGROUND_ROLES)

    assert page.status_code == (200 if socket else 403)
    assert (page.status_code == 200) is (role in selectors.PLAYGROUND_ROLES)


def test_the_sidebar_shows_the_playground_to_admins_and_members_only(client_for, team):
    link = f'href="{url(team, "index")}"'
    for role, shown in [("admin", True), ("member", True), ("finance", False)]:
        page = client_for(team.user(role)).get(reverse("dashboard", kwargs={"ws": "acme"}))
        assert (link in page.content.decode()) is shown, role


def test_new_starts_a_conversation_and_opens_it(client_for, team, agent):
    response = client_for(team.member).post(url(team, "new"), {"agent": agent.pk})

    conversation = Conversation.objects.get()
    assert (conversation.user, conversation.agent, conversation.workspace) == (
        team.member,
        agent,
        team.workspace,
    )
    assert response.status_code == 302
    assert response["Location"] == url(team, "conversation", pk=conversation.pk)


@pytest.mark.parametrize("value", ["", "abc", "999999"])
def test_new_refuses_a_missing_or_unknown_agent(client_for, team, agent, value):
    response = client_for(team.member).post(url(team, "new"), {"agent": value})
    assert response.status_code == 404
    assert not Conversation.objects.exists()


def test_new_refuses_an_agent_of_another_workspace(client_for, team, other_team):
    foreign = make_agent(other_team, "Foreign")

    response = client_for(team.member).post(url(team, "new"), {"agent": foreign.pk})

    assert response.status_code == 404
    assert not Conversation.objects.exists()


def test_new_needs_post(client_for, team, agent):
    assert client_for(team.member).get(url(team, "new")).status_code == 405


@pytest.mark.parametrize("role", ["admin", "member"])
def test_another_users_conversation_is_404_even_for_an_admin(client_for, team, agent, role):
    owner = team.member if role == "admin" else team.admin
    conversation = chat(team, owner, agent, "Private")
    client = client_for(team.user(role))

    assert client.get(url(team, "conversation", pk=conversation.pk)).status_code == 404
    assert client.post(url(team, "delete", pk=conversation.pk)).status_code == 404
    assert Conversation.objects.filter(pk=conversation.pk).exists()


@pytest.mark.parametrize("role", ["admin", "member", "finance"])
def test_another_workspaces_people_get_404(client_for, team, other_team, agent, role):
    conversation = chat(team, team.member, agent)
    client = client_for(other_team.user(role))
    for slug in ("acme", "globex"):
        kwargs = {"ws": slug, "pk": conversation.pk}
        # Finance is refused its own workspace's playground before any lookup.
        expected = 403 if (slug, role) == ("globex", "finance") else 404
        assert client.get(reverse("playground:conversation", kwargs=kwargs)).status_code == expected
        assert client.post(reverse("playground:delete", kwargs=kwargs)).status_code == expected
    assert client.get(reverse("playground:index", kwargs={"ws": "acme"})).status_code == 404
    assert Conversation.objects.filter(pk=conversation.pk).exists()


def test_anonymous_visitors_are_sent_to_log_in(client, team, agent):
    conversation = chat(team, team.member, agent)
    for target in (url(team, "index"), url(team, "conversation", pk=conversation.pk)):
        response = client.get(target)
        assert response.status_code == 302
        assert "/login/" in response["Location"]


def test_delete_removes_the_conversation(client_for, team, agent):
    conversation = chat(team, team.member, agent, "Throwaway")
    Turn.objects.create(conversation=conversation, index=1, user_message="hi", status="answered")

    response = client_for(team.member).post(url(team, "delete", pk=conversation.pk))

    assert response.status_code == 302
    assert response["Location"] == url(team, "index")
    assert not Conversation.objects.exists()
    assert not Turn.objects.exists()


def test_delete_is_refused_while_a_turn_runs(client_for, team, agent):
    conversation = chat(team, team.member, agent)
    Turn.objects.create(conversation=conversation, index=1, user_message="hi", status="running")

    response = client_for(team.member).post(url(team, "delete", pk=conversation.pk), follow=True)

    assert "Stop the running turn before deleting" in response.content.decode()
    assert Conversation.objects.filter(pk=conversation.pk).exists()


def test_delete_needs_post(client_for, team, agent):
    conversation = chat(team, team.member, agent)
    response = client_for(team.member).get(url(team, "delete", pk=conversation.pk))
    assert response.status_code == 405


def test_the_page_embeds_what_the_script_needs(client_for, team, agent):
    conversation = chat(team, team.member, agent)
    turn = Turn.objects.create(
        conversation=conversation,
        index=1,
        user_message="go",
        status="running",
        started_at=timezone.now() - timedelta(seconds=7),
    )

    response = client_for(team.member).get(url(team, "conversation", pk=conversation.pk))

    state = state_of(response)
    assert state["conversation"] == str(conversation.pk)
    assert state["ws_path"] == f"/ws/w/acme/conversations/{conversation.pk}/"
    assert state["running_turn"] == str(turn.pk)
    assert 6 <= state["running_seconds"] <= 60
    assert state["sandbox_note"] is True
    assert state["state_labels"]["timed_out"] == "Timed out"


def test_a_quiet_conversation_has_no_running_turn(client_for, team, agent):
    conversation = chat(team, team.member, agent)
    Turn.objects.create(conversation=conversation, index=1, user_message="go", status="answered")

    response = client_for(team.member).get(url(team, "conversation", pk=conversation.pk))

    assert state_of(response)["running_turn"] is None


def record_turn(conversation) -> Turn:
    start = timezone.now() - timedelta(seconds=5)
    turn = Turn.objects.create(
        conversation=conversation,
        index=1,
        user_message="Plot <b>this</b>\nplease",
        status="answered",
        started_at=start,
        ended_at=start + timedelta(milliseconds=3400),
    )
    Message.objects.create(
        turn=turn,
        seq=1,
        role="assistant",
        content="Let me <script>alert(1)</script> look.",
        tool_calls=[{"id": "c1", "name": "_code_execute_python", "arguments": {}}],
    )
    Message.objects.create(
        turn=turn, seq=2, role="tool", content="RESULT-FOR-MODEL", tool_call_id="c1"
    )
    Message.objects.create(turn=turn, seq=3, role="assistant", content="Done:\nline two")
    ToolCall.objects.create(
        turn=turn,
        seq=1,
        call_id="c1",
        name="_code_execute_python",
        arguments={"code": "print('<i>hi</i>')"},
        status="ok",
        duration_ms=1234,
        result="RESULT-FOR-MODEL",
        output=[
            {"type": "stdout", "text": "<img src=x onerror=alert(1)>\n"},
            {"type": "stderr", "text": "warning: <careful>\n"},
            {"type": "image", "mime": "image/png", "data": PNG},
            {"type": "file", "path": "/out/<report>.csv", "url": "/w/acme/drive/files/1/download/"},
            {"type": "file", "path": "/evil.csv", "url": "javascript:alert(1)"},
            {"type": "notice", "text": "[output <truncated>]"},
            {"type": "html", "text": "<b>unknown entries are not shown</b>"},
        ],
    )
    ToolCall.objects.create(
        turn=turn,
        seq=2,
        call_id="c2",
        name="_code_execute_shell",
        arguments={"command": "exit 3"},
        status="error",
        duration_ms=50,
    )
    return turn


def test_the_history_shows_recorded_cells_escaped_and_in_order(client_for, team, agent):
    conversation = chat(team, team.member, agent)
    record_turn(conversation)

    response = client_for(team.member).get(url(team, "conversation", pk=conversation.pk))

    html = response.content.decode()
    assert 'data-testid="user-message">Plot &lt;b&gt;this&lt;/b&gt;\nplease</div>' in html
    assert "Let me &lt;script&gt;alert(1)&lt;/script&gt; look." in html
    assert "<script>alert(1)" not in html
    assert 'data-testid="assistant-text">Done:\nline two</div>' in html
    assert '<code data-lang="python">print(&#x27;&lt;i&gt;hi&lt;/i&gt;&#x27;)</code>' in html
    assert '<code data-lang="bash">exit 3</code>' in html
    assert '<pre class="out out-stdout">&lt;img src=x onerror=alert(1)&gt;\n</pre>' in html
    assert '<pre class="out out-stderr">warning: &lt;careful&gt;\n</pre>' in html
    assert f'src="data:image/png;base64,{PNG}"' in html
    assert 'href="/w/acme/drive/files/1/download/"' in html
    assert "/out/&lt;report&gt;.csv" in html
    assert "javascript:" not in html
    assert "[output &lt;truncated&gt;]" in html
    assert "unknown entries" not in html
    assert "RESULT-FOR-MODEL" not in html
    assert "ok · 1.2 s" in html
    assert "error · 0.1 s" in html
    assert "Answered in 3.4 s" in html
    assert "New turn: a fresh sandbox" in html
    # Text, the call it asked for, then the answer; the shell call was in no message.
    order = [html.index(s) for s in ("Let me", 'data-call="1"', "Done:", 'data-call="2"')]
    assert order == sorted(order)


def test_the_history_says_how_a_turn_ended_when_it_did_not_answer(client_for, team, agent):
    conversation = chat(team, team.member, agent)
    Turn.objects.create(conversation=conversation, index=1, user_message="a", status="cancelled")
    Turn.objects.create(
        conversation=conversation,
        index=2,
        user_message="b",
        status="error",
        error_message="The model <refused>.",
    )

    html = client_for(team.member).get(url(team, "conversation", pk=conversation.pk)).content
    html = html.decode()

    assert "Stopped by you" in html
    assert "Failed: The model &lt;refused&gt;." in html


def test_the_history_keeps_the_note_of_an_answer_cut_short(client_for, team, agent):
    conversation = chat(team, team.member, agent)
    cut = "The reply was cut: the model reached its output limit."
    Turn.objects.create(
        conversation=conversation, index=1, user_message="a", status="answered", error_message=cut
    )
    html = client_for(team.member).get(url(team, "conversation", pk=conversation.pk)).content
    assert f"Answered. {cut}" in html.decode()


def test_agents_without_code_execution_get_no_sandbox_note(client_for, team):
    plain = make_agent(team, "Chatty", code_execution=False)
    conversation = chat(team, team.member, plain)
    Turn.objects.create(conversation=conversation, index=1, user_message="a", status="answered")

    response = client_for(team.member).get(url(team, "conversation", pk=conversation.pk))

    assert "fresh sandbox" not in response.content.decode()
    assert state_of(response)["sandbox_note"] is False


def test_svg_markup_is_shown_as_an_image_never_inline(client_for, team, agent):
    conversation = chat(team, team.member, agent)
    turn = Turn.objects.create(conversation=conversation, index=1, user_message="svg")
    ToolCall.objects.create(
        turn=turn,
        seq=1,
        call_id="c1",
        name="_code_execute_python",
        output=[{"type": "image", "mime": "image/svg+xml", "data": "<svg onload=alert(1)></svg>"}],
    )

    html = client_for(team.member).get(url(team, "conversation", pk=conversation.pk)).content
    html = html.decode()

    assert "<svg" not in html
    assert 'src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+PC9zdmc+"' in html
    assert "running…" in html


def test_bubbles_start_at_their_first_line_and_repeated_notices_show_once(client_for, team, agent):
    conversation = chat(team, team.member, agent)
    turn = Turn.objects.create(conversation=conversation, index=1, user_message="x")
    Message.objects.create(turn=turn, seq=1, role="assistant", content="\n\nStopped after step 1.")
    Message.objects.create(turn=turn, seq=2, role="assistant", content=" \n")
    ToolCall.objects.create(
        turn=turn,
        seq=1,
        call_id="c1",
        name="_code_execute_python",
        status="cancelled",
        output=[{"type": "notice", "text": "Stopped."}, {"type": "notice", "text": "Stopped."}],
    )

    html = client_for(team.member).get(url(team, "conversation", pk=conversation.pk)).content
    html = html.decode()

    assert 'data-testid="assistant-text">Stopped after step 1.</div>' in html
    assert html.count('data-testid="assistant-text"') == 1
    assert html.count("Stopped.</div>") == 1


def test_empty_conversations_are_not_listed_but_the_open_one_is(client_for, team, agent):
    empty = chat(team, team.member, agent, said="")
    kept = chat(team, team.member, agent, "Has a message", said="hi")
    index = client_for(team.member).get(url(team, "index")).content.decode()
    assert str(kept.pk) in index and str(empty.pk) not in index
    opened = client_for(team.member).get(url(team, "conversation", pk=empty.pk)).content.decode()
    assert opened.count(f'href="{url(team, "conversation", pk=empty.pk)}"') == 1


def test_search_finds_titles_and_messages_of_ones_own_conversations(client_for, team, agent):
    chat(team, team.member, agent, "Quarterly sales", said="numbers")
    chat(team, team.member, agent, "Other", said="plot the churn rate")
    chat(team, team.admin, agent, "Churn of the admin", said="churn")
    client = client_for(team.member)

    def found(q):
        html = client.get(url(team, "index"), {"q": q}).content.decode()
        return sorted(t for t in ("Quarterly sales", "Other", "Churn of the admin") if t in html)

    assert found("SALES") == ["Quarterly sales"]
    assert found("churn") == ["Other"]
    assert "None with “zebra”." in client.get(url(team, "index"), {"q": "zebra"}).content.decode()


def test_rename_renames_ones_own_conversation_only(client_for, team, other_team, agent):
    mine = chat(team, team.member, agent, "Before")
    response = client_for(team.member).post(url(team, "rename", pk=mine.pk), {"title": "After"})
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.title == "After"
    theirs = client_for(team.admin).post(url(team, "rename", pk=mine.pk), {"title": "Hacked"})
    assert theirs.status_code == 404
    foreign = reverse("playground:rename", kwargs={"ws": other_team.workspace.slug, "pk": mine.pk})
    assert client_for(other_team.member).post(foreign, {"title": "Hacked"}).status_code == 404
    mine.refresh_from_db()
    assert mine.title == "After"


def test_no_agent_says_who_can_make_one_instead_of_pointing_above(client_for, team):
    member = client_for(team.member).get(url(team, "index")).content.decode()
    assert "an admin of this workspace creates one" in member and "agent above" not in member
    admin = client_for(team.admin).get(url(team, "index")).content.decode()
    assert "create an agent first" in admin
