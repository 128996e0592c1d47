"""Talking to Telegram: durable intake, webhook mode, pacing, the one send policy, callback data,
HTML, names.
"""
