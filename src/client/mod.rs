//! The one OAuth/MCP flow client used by tests, scenario steps and benches.
