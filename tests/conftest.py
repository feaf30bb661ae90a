"""Test-suite wide configuration.

tether's own pytest plugin is opted in here exactly as a user's ``conftest.py`` would
(its fixtures: ``tether_server``, ``tether_session``, ``tether_config``,
``tether_handler``, ``tether_events``); ``pytester`` runs a separate pytest in the
plugin's own tests.
"""

pytest_plugins = ["tether.testing.pytest_plugin", "pytester"]
