"""The worker process: the procrastinate app with our tasks registered, and its supervisor.

An edge like web/: its tasks call services and jobs, never the reverse.
"""
