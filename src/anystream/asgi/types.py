"""ASGI type aliases (the same shapes as faststream's)."""

from faststream.asgi.types import ASGIApp, Message, Receive, Scope, Send, UserApp

__all__ = ("ASGIApp", "Message", "Receive", "Scope", "Send", "UserApp")
