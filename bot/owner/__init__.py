"""What owners read: KPIs and their periods, the /stats chart, the CSV export, alerts and lead
cards, /links.
"""
