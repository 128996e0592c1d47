"""`aimant preview`: chat with the bot in a terminal, on an in-process stand-in for the Bot API."""
