"""Nurture tips: sending hours and backoff as plain functions, and the dispatcher that sends due
tips at most once.
"""
