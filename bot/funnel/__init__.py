"""The prospect funnel's rules: stages and deep links, double opt-in, intent phrases, the score,
PDF delivery, /mydata.
"""
