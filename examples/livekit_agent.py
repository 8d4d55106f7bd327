"""A LiveKit Agents worker whose agent speaks through an AvatarKit avatar in the room.

    pip install 'avatarwire[livekit]' livekit-plugins-openai
    LIVEKIT_URL=... LIVEKIT_API_KEY=... LIVEKIT_API_SECRET=... \
    AVATARKIT_API_KEY=... AVATARKIT_APP_ID=... AVATARKIT_AVATAR_ID=... \
    OPENAI_API_KEY=... python examples/livekit_agent.py dev

Needs a LiveKit server and the service, so the test suite only checks that it loads
against the installed livekit-agents; tests/test_integration_livekit.py runs the
plugin itself against the emulator.
"""

from __future__ import annotations

import os

from livekit.agents import Agent, AgentSession, JobContext, WorkerOptions, cli

from avatarwire import SessionConfig
from avatarwire.integrations.livekit import AvatarSession


def avatar_config() -> SessionConfig:
    """The avatar's account, from the environment (the avatar's room is the agent's)."""
    return SessionConfig(
        api_key=os.environ["AVATARKIT_API_KEY"],
        app_id=os.environ["AVATARKIT_APP_ID"],
        avatar_id=os.environ["AVATARKIT_AVATAR_ID"],
    )


async def entrypoint(ctx: JobContext) -> None:
    """Join the room, start the agent, and let the avatar speak its TTS audio."""
    await ctx.connect()
    from livekit.plugins import openai  # the example's own choice of models

    session: AgentSession = AgentSession(llm=openai.realtime.RealtimeModel(voice="alloy"))
    avatar = AvatarSession(avatar_config())
    await avatar.start(session, ctx.room)  # mints the avatar's token, takes the audio output
    await session.start(agent=Agent(instructions="You are a friendly assistant."), room=ctx.room)


if __name__ == "__main__":
    cli.run_app(WorkerOptions(entrypoint_fnc=entrypoint))
