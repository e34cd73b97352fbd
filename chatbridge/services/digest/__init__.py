"""Weekly thread digests: what the week held (content), when it is due (schedule), how it reads
on each platform (render, sandbox for admins' templates), who posts it exactly once (runner), and
the command line's store-only digest (offline).

Kept free of imports so the template sandbox's child process loads only what it needs.
"""
