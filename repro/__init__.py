"""Reproductions: the paper's tables and figures, the zoo builder and the doc writers.

Experiments built on the golden model, kept out of it: these modules train (through
``golden.ann``, the torch front end), plot with matplotlib, and write ``docs/*.md`` pages and
README's zoo table. ``augsnn paper`` and ``augsnn zoo`` (``repro.commands``) drive them.
"""
