"""The bottom layer: records, views, reports and settings that every other folder shares.

Nothing in here imports a project folder (graph, tools, serving, evals, newsdesk), so any of
them can depend on it without an import cycle.
"""
