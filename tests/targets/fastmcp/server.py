"""FastMCP's OIDCProxy in front of authproof's mock IdP: a third-party target for
tests/third_party.rs (and for `authproof test --target` by hand).

    python server.py --idp http://127.0.0.1:9000 [--port 0]

Binds 127.0.0.1 (port 0 by default: the OS picks one), then prints one line
`listening on http://127.0.0.1:PORT` on stdout once it accepts connections.

The configuration is read from profile.yaml beside this file, the profile the suite judges
the target by, so the two cannot disagree: the consent mode (`always`: a consent page on every
authorization, FastMCP's default), the redirect allow-list, the scopes offered, the upstream
auth method toward the IdP's client `upstream-app`, the callback and MCP paths, and
`forward_resource`.
State is kept in memory, so every start is a fresh server.
"""

import argparse
import asyncio
import pathlib
import socket
import sys

from fastmcp import FastMCP
from fastmcp.server.auth.oidc_proxy import OIDCProxy
from key_value.aio.stores.memory import MemoryStore
import uvicorn
import yaml

UPSTREAM_CLIENT_ID = "upstream-app"
UPSTREAM_CLIENT_SECRET = "upstream-s3cret"
# The profile's consent modes, as OIDCProxy's `require_authorization_consent`.
CONSENT = {"always": True, "remember": "remember", "off": False}


def load_profile() -> dict:
    path = pathlib.Path(__file__).with_name("profile.yaml")
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def build_app(base_url: str, idp: str, profile: dict):
    auth = OIDCProxy(
        config_url=f"{idp.rstrip('/')}/.well-known/openid-configuration",
        client_id=UPSTREAM_CLIENT_ID,
        client_secret=UPSTREAM_CLIENT_SECRET,
        token_endpoint_auth_method=profile["upstream_auth_method"],
        base_url=base_url,
        redirect_path=profile["redirect_path"],
        allowed_client_redirect_uris=profile["allowed_redirect_uris"],
        valid_scopes=profile["scopes"],
        require_authorization_consent=CONSENT[profile["consent"]],
        forward_resource=profile["settings"]["forward_resource"],
        client_storage=MemoryStore(),
        jwt_signing_key="authproof-third-party-fastmcp-key",
    )
    mcp = FastMCP("authproof-fastmcp-target", auth=auth)

    @mcp.tool
    def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    # Stateless HTTP: every request stands alone, so an authorized `tools/list` needs no
    # prior `initialize` (the suite checks authorization, not MCP sessions).
    return mcp.http_app(path=profile["mcp_path"], stateless_http=True)


async def serve(sock: socket.socket, app) -> None:
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
            return
        await asyncio.sleep(0.05)
    host, port = sock.getsockname()[:2]
    print(f"listening on http://{host}:{port}", flush=True)
    await task


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idp", required=True, help="base URL of the mock IdP")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    port = sock.getsockname()[1]
    app = build_app(f"http://127.0.0.1:{port}", args.idp, load_profile())
    asyncio.run(serve(sock, app))
    return 0


if __name__ == "__main__":
    sys.exit(main())
