"""The MCP server behind the proxy in tests/peer_python_sdk_client.rs: the Python SDK's own
MCPServer over streamable HTTP on a loopback port. Prints `LISTENING <url>` once it listens.

Tools: `add` (a + b) and `identity` (what the proxy told the server about the caller: the
X-Authproof-* headers, and whether any Authorization header arrived, which it must not).
"""

import asyncio
import socket
import sys

import uvicorn
from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("py-sdk-backend", version="1.0.0")


@server.tool(description="Adds two numbers.")
def add(a: int, b: int) -> str:
    return str(a + b)


@server.tool(description="What the proxy forwarded about the caller.")
def identity(ctx: Context) -> dict:
    headers = {k.lower(): v for k, v in (ctx.headers or {}).items()}
    return {
        "subject": headers.get("x-authproof-subject"),
        "client_id": headers.get("x-authproof-client-id"),
        "authorization_present": "authorization" in headers,
    }


async def main() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = server.streamable_http_app(json_response=True, stateless_http=True)
    config = uvicorn.Config(app, log_level="warning")
    print(f"LISTENING http://127.0.0.1:{port}/mcp", flush=True)
    await uvicorn.Server(config).serve(sockets=[sock])


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
