"""avatarwire.integrations: voice-agent framework adapters over core's conversation layer.

``avatarwire.integrations.pipecat`` (extra ``pipecat``) and
``avatarwire.integrations.livekit`` (extra ``livekit``) only map a framework's frames
and calls to :class:`avatarwire.core.conversation.Conversation` and run what it
decides with :class:`ConversationRunner` on the asyncio binding.
"""

from .runner import ConversationRunner

__all__ = ["ConversationRunner"]
