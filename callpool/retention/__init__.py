"""Data retention: how long each site keeps raw AMI events, page views and sessions.

``policy`` (pure) decides what is old enough to go, ``prune`` deletes it in small batches
(the scheduled job), ``api`` reads and changes a site's retention.
"""
