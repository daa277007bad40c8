//! The built-in echo MCP endpoint, used when no backend is configured.
