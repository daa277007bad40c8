//! The bearer guard on the MCP path and the reverse proxy to the MCP server.
