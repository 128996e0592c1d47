"""Running it safely: start-up and content checks, `aimant backup`, and the guards around the
database file.
"""
