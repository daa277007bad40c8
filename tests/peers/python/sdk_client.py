"""The MCP Python SDK client against the proxy (tests/peer_python_sdk_client.rs).

Usage: python sdk_client.py MCP_URL [CLIENT_METADATA_URL]
Discovery from the 401, DCR, PKCE; the browser leg is asked of the test (the line protocol in
tests/peers/mod.rs); the code exchange, initialize, tools/list, tools/call. Then the test
expires the access token at the proxy and this client's clock moves by the same amount, and
the SDK must refresh on its own before the next call. With CLIENT_METADATA_URL the SDK uses
that https URL as its client_id (a client ID metadata document) instead of registering.
"""

import asyncio
import json
import sys
import time
from urllib.parse import parse_qs, urlparse

import httpx2
import mcp.client.auth.oauth2 as sdk_oauth
import mcp.shared.auth_utils as sdk_auth_utils
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

REDIRECT = "http://127.0.0.1:8974/callback"


async def ask(message: dict) -> dict:
    print(json.dumps(message), flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    if not line:
        raise RuntimeError(f"the test closed stdin instead of answering {message}")
    return json.loads(line)


def log(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)


class ShiftedClock:
    """`time` as the SDK sees it: the real clock plus the shift the test applied to the proxy."""

    shift = 0.0

    def time(self) -> float:
        return time.time() + self.shift


class Storage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None
        self.history: list[OAuthToken] = []


    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.history.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class Browser:
    """The redirect and callback handlers: the browser leg is played by the test."""

    def __init__(self) -> None:
        self.authorize_url: str | None = None
        self.redirect: str | None = None
        self.authorizations = 0

    async def redirect_handler(self, url: str) -> None:
        self.authorize_url = url
        self.authorizations += 1
        answer = await ask({"authorize": url, "redirect_uri": REDIRECT})
        if "error" in answer:
            raise RuntimeError(answer["error"])
        self.redirect = answer["redirect"]

    async def callback_handler(self) -> AuthorizationCodeResult:
        query = parse_qs(urlparse(self.redirect or "").query)
        one = lambda k: query.get(k, [None])[0]  # noqa: E731
        return AuthorizationCodeResult(code=one("code") or "", state=one("state"), iss=one("iss"))


def text_of(result) -> str | None:
    for block in result.content:
        if getattr(block, "type", None) == "text":
            return block.text
    return None


async def main(mcp_url: str, client_metadata_url: str | None) -> None:
    clock = ShiftedClock()
    sdk_oauth.time = clock
    sdk_auth_utils.time = clock
    storage = Storage()
    browser = Browser()
    auth = OAuthClientProvider(
        server_url=mcp_url,
        client_metadata=OAuthClientMetadata(
            client_name="MCP Python SDK peer",
            redirect_uris=[REDIRECT],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=browser.redirect_handler,
        callback_handler=browser.callback_handler,
        client_metadata_url=client_metadata_url,
    )
    async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
        async with streamable_http_client(mcp_url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                tools = await session.list_tools()
                total = await session.call_tool("add", {"a": 19, "b": 23})
                who = await session.call_tool("identity", {})
                first_tokens = storage.tokens

                answer = await ask({"expire": True})
                assert answer.get("expired") is True, answer
                clock.shift = float(answer["advanced_secs"])
                after = await session.call_tool("add", {"a": 1, "b": 2})
                refreshed = storage.tokens

    authorize = parse_qs(urlparse(browser.authorize_url or "").query)
    result = {
        "client_id": storage.client.client_id if storage.client else None,
        "authorize_params": {k: v[0] for k, v in authorize.items()},
        "first_tokens": first_tokens.model_dump(mode="json", exclude_none=True),
        "refreshed_tokens": refreshed.model_dump(mode="json", exclude_none=True),
        "token_saves": len(storage.history),
        "authorizations": browser.authorizations,
        "server_name": init.server_info.name,
        "tools": sorted(t.name for t in tools.tools),
        "sum": text_of(total),
        "identity": json.loads(text_of(who) or "null"),
        "after_expiry": text_of(after),
    }
    print(json.dumps({"result": result}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
