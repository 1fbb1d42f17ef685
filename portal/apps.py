"""The portal app: pages and commands that draw on every other app."""

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
