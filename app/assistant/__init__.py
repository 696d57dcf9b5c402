"""Fuze for assistants: an MCP server (app/assistant/mcp.py)."""
