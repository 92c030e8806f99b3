"""The self-service portal: each app contributes its pages, all under one ``portal`` namespace."""

from django.urls import include, path

app_name = "portal"

urlpatterns = [
    path("", include("profiles.urls")),
    path("", include("consent.urls")),
    path("", include("dsar.urls")),
]
