"""The pure core: history → state, and turns (inbox + worker actions) → new events and effects.

Nothing here does I/O or touches asyncio; the clock is passed in as integer nanoseconds.
"""
