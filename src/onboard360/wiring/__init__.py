"""Builds what every web process and worker shares from the settings.

The engine, the keyring, the HTTP client and the hub clients: one ``Service``, passed in.
"""
