"""(being built) Delivers partner webhooks and advances new channels through their lifecycle."""

from __future__ import annotations

from onboard360.sandbox.state import OutgoingEvent, Sandbox


class WebhookDispatcher:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def send(self, event: OutgoingEvent) -> None:
        pass

    def advance_later(self, channel_id: str) -> None:
        pass

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass
