"""The conversation flows, one module each; every function takes the ``dialogue.turn.Turn`` being handled.

``control`` (commands, consent, media) → ``report`` / ``status`` / ``survey`` → ``handoff`` (lowest: anything may
hand the conversation to a person); ``free_intent`` answers a message no flow is waiting for.
"""
