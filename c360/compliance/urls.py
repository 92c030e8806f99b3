"""Staff console pages beyond the Django admin (dashboard, request queue, reports)."""

from django.urls import path  # noqa: F401

app_name = "console"
urlpatterns: list = []
