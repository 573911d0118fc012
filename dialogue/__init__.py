"""The conversation state machine: flows, slots, validation and rendering of replies from templates."""
