"""Staff console pages beyond the Django admin (dashboard, request queue, reports)."""

from django.urls import path

from . import views

app_name = "console"
urlpatterns = [
    path("dashboard/", views.dashboard_view, name="dashboard"),
    path("queue/", views.queue_view, name="queue"),
    path("report/", views.report_view, name="report"),
    path("queue/new/", views.intake_view, name="intake"),
    path("queue/<str:protocol>/", views.request_view, name="request"),
    path("queue/<str:protocol>/actions/<slug:action>/", views.request_action_view, name="request-action"),
]
