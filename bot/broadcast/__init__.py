"""Broadcasts: composition rules (draft), starting now or when due (schedule), the durable sender,
the report.
"""
