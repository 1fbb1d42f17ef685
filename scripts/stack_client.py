"""What stack-check does as a browser would, through nginx (scripts/stack_check.py runs
the stack): logging in, opening a conversation, running a turn over a websocket and judging
its events (a Direct-mode turn's output, a model's turn ending answered), reading the
finance CSV; and the throw-away certificate nginx serves."""

import asyncio
import csv
import io
import ipaddress
import json
import re
import ssl
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TURN_SECONDS = 180
# A small model on a shared 2-core host: seconds as a rule, much longer under load.
MODEL_TURN_SECONDS = 600
MODEL_QUESTION = "Say hello in one short sentence."
CHARGE_SECONDS = 90
# The code each turn runs; its output must come back whole and in order.
LINES = 20
CODE = (
    f"import time\nfor i in range({LINES}):\n"
    "    print('line', i, flush=True)\n    time.sleep(0.05)\n"
)


class CheckFailed(Exception):
    pass


def write_certificate(folder: Path) -> None:
    """A self-signed certificate for 127.0.0.1, for nginx's TLS."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(san, critical=False).sign(key, hashes.SHA256())
    )  # fmt: skip
    folder.mkdir()
    folder.joinpath("fullchain.pem").write_bytes(
        certificate.public_bytes(serialization.Encoding.PEM)
    )
    folder.joinpath("privkey.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    # nginx's workers read it as their own user.
    for path in folder.iterdir():
        path.chmod(0o644)


class Browser:
    """A logged-in person, through nginx."""

    def __init__(self, base: str, email: str, password: str) -> None:
        self.base = base
        self.http = requests.Session()
        # Not the environment's CA bundle or proxies: nginx's certificate is throw-away.
        self.http.trust_env = False
        self.http.verify = False
        page = self.http.get(f"{base}/login/", timeout=30)
        token = _csrf(page.text)
        answer = self.http.post(
            f"{base}/login/",
            data={"username": email, "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{base}/login/"},
            timeout=30,
        )
        if "sessionid" not in self.http.cookies:
            raise CheckFailed(f"Logging in as {email} failed ({answer.status_code}).")

    def new_conversation(self, workspace: str, agent_name: str) -> str:
        page = self.http.get(f"{self.base}/w/{workspace}/playground/", timeout=30).text
        match = re.search(rf'<option value="(\d+)"[^>]*>{re.escape(agent_name)}', page)
        if not match:
            raise CheckFailed(f"No agent {agent_name!r} in the playground of {workspace}.")
        answer = self.http.post(
            f"{self.base}/w/{workspace}/playground/new/",
            data={"agent": match.group(1), "csrfmiddlewaretoken": _csrf(page)},
            headers={"Referer": f"{self.base}/w/{workspace}/playground/"},
            timeout=30,
        )
        found = re.search(r"/playground/([0-9a-f-]{36})/", answer.url)
        if not found:
            raise CheckFailed(f"Creating a conversation ended at {answer.url}.")
        return found.group(1)

    def cookie(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())


def _csrf(page: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if not match:
        raise CheckFailed("The page has no CSRF token.")
    return match.group(1)


async def run_turn(
    base: str, browser: Browser, workspace: str, conversation: str, *, quiet: float = 0
) -> dict:
    """One Direct-mode turn running CODE; with quiet, the socket first stays silent that
    long (longer than the channel layer's blocking pop: it must stay open)."""
    text = f"```python\n{CODE}```"
    events = await _turn_events(base, browser, workspace, conversation, text, quiet=quiet)
    return _judge(events)


async def run_model_turn(base: str, browser: Browser, workspace: str, conversation: str) -> dict:
    """One turn of an agent with a model: it must end answered (whatever the words)."""
    events = await _turn_events(
        base, browser, workspace, conversation, MODEL_QUESTION, seconds=MODEL_TURN_SECONDS
    )
    finished = events[-1]
    if finished["status"] != "answered":
        raise CheckFailed(f"The model's turn ended {finished['status']}: {finished.get('message')}")
    answer = "".join(e["text"] for e in events if e["type"] == "text_delta")
    return {"turn": finished.get("turn"), "duration_ms": finished["duration_ms"], "answer": answer}


async def _turn_events(
    base: str, browser: Browser, workspace: str, conversation: str, text: str,
    *, quiet: float = 0, seconds: float = TURN_SECONDS,
) -> list[dict]:  # fmt: skip
    """Sends text over a websocket through nginx; the turn's events, up to turn_finished."""
    url = base.replace("https", "wss", 1) + f"/ws/w/{workspace}/conversations/{conversation}/"
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    headers = {"Cookie": browser.cookie()}
    async with websockets.connect(url, additional_headers=headers, origin=base, ssl=context) as ws:
        await asyncio.sleep(quiet)
        await ws.send(json.dumps({"type": "send", "text": text}))
        events = []
        deadline = time.monotonic() + seconds
        while True:
            event = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
            events.append(event)
            if event["type"] == "turn_finished":
                return events


def _judge(events: list[dict]) -> dict:
    finished = events[-1]
    if finished["status"] != "answered":
        raise CheckFailed(f"The turn ended {finished['status']}: {finished.get('message')}")
    output = "".join(e["text"] for e in events if e["type"] == "stdout")
    expected = "".join(f"line {i}\n" for i in range(LINES))
    if output != expected:
        raise CheckFailed(f"The turn's output was not whole and in order: {output!r}")
    turns = {e.get("turn") for e in events if "turn" in e}
    if len(turns) != 1:
        raise CheckFailed(f"Events of other turns reached this socket: {turns}")
    return {"turn": turns.pop(), "duration_ms": finished["duration_ms"]}


def charges(browser: Browser, workspace: str) -> list[dict]:
    answer = browser.http.get(
        f"{browser.base}/w/{workspace}/usage/export.csv", params={"rows": "charges"}, timeout=30
    )
    if answer.status_code != 200 or not answer.headers["Content-Type"].startswith("text/csv"):
        raise CheckFailed(f"The charges CSV answered {answer.status_code}.")
    return list(csv.DictReader(io.StringIO(answer.text)))


def wait_charged(browser: Browser, workspace: str, turns: list[str]) -> list[dict]:
    """Each turn's session charged exactly once, on the finance report."""
    deadline = time.monotonic() + CHARGE_SECONDS
    while True:
        rows = charges(browser, workspace)
        turn_column = next((k for k in rows[0] if "turn" in k.lower()), None) if rows else None
        counts = {t: sum(1 for r in rows if turn_column and r[turn_column] == t) for t in turns}
        if all(count == 1 for count in counts.values()):
            return [r for r in rows if r[turn_column] in turns]
        if any(count > 1 for count in counts.values()) or time.monotonic() > deadline:
            raise CheckFailed(f"Charges per turn on the CSV: {counts} (want 1 each)")
        time.sleep(2)
