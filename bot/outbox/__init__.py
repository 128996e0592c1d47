"""Background outboxes: the shared pump loop, verification mails (SMTP) and signed webhooks to
other tools.
"""
