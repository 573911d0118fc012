"""Channels: Telegram (python-telegram-bot), WhatsApp and SMS (twilio), and a terminal simulator.

The only room that knows a provider: it verifies webhooks, normalises payloads into
``reporta.messages.InboundMessage``, downloads media and sends ``OutboundMessage``s.
"""
