from django.urls import path

from .views import (
    ManualTaskCompleteApi,
    PackageDownloadApi,
    PackageLinkApi,
    RequestActionApi,
    RequestDetailApi,
    RequestListCreateApi,
    TaskRetryApi,
)

urlpatterns = [
    path("dsar/requests", RequestListCreateApi.as_view(), name="dsar-requests"),
    path("dsar/requests/<uuid:request_id>", RequestDetailApi.as_view(), name="dsar-request"),
    path("dsar/requests/<uuid:request_id>/actions", RequestActionApi.as_view(), name="dsar-request-action"),
    path("dsar/requests/<uuid:request_id>/tasks/<int:task_id>/retry", TaskRetryApi.as_view(), name="dsar-task-retry"),
    path(
        "dsar/requests/<uuid:request_id>/tasks/<int:task_id>/done",
        ManualTaskCompleteApi.as_view(),
        name="dsar-task-done",
    ),
    path("dsar/requests/<uuid:request_id>/package/link", PackageLinkApi.as_view(), name="dsar-package-link"),
    path("dsar/packages/download", PackageDownloadApi.as_view(), name="dsar-package-download"),
]
