"""The message flow: a channel's parsed message is stored in the inbox (group commit), processed in batches
(NLU + dialogue + outbox) and recovered when left behind, in the web and processing processes that the
supervisor starts, woken across processes, with SQLite's one-writer lock. Channels are seen only through
``bot.channel``'s protocols; ``reporta.runtime`` wires it together."""
