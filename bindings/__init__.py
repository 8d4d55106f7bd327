"""I/O for the core: asyncio (``.asyncio``), trio (``.trio``) and blocking sockets (``.blocking``).

Each binding only moves bytes, keeps time and delivers events; every protocol
decision is the core's.
"""
