"""The live chat WebSocket (PROTOCOL.md). Placeholder until the live-chat issue lands."""

from channels.generic.websocket import AsyncJsonWebsocketConsumer


class ChatConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        await self.close(code=4404)
