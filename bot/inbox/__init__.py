"""The team inbox: a person's messages reach the team, the team's answers reach the person (the
relay sender).
"""
