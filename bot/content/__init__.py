"""The content owners edit: the magnet catalogue, the texts per language, the summary shown before
going live.
"""
