"""Watchers fetch and parse sources; they never import `bot`.

Each watcher turns one source (a feed, a flight API) into plain values (`NewsItem`) and
reports failures as `WatcherError`s that name the source and keep their cause.
"""
