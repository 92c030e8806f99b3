from django.urls import path

from .views import (
    QuarantineListApi,
    QuarantineReprocessApi,
    SourceRecordsIngestApi,
    SubjectCollectionApi,
    SubjectDetailApi,
    SubjectFindApi,
)

urlpatterns = [
    path("subjects", SubjectCollectionApi.as_view(), name="subject-collection"),
    path("subjects/find", SubjectFindApi.as_view(), name="subject-find"),
    path("subjects/<uuid:subject_id>", SubjectDetailApi.as_view(), name="subject-detail"),
    path("sources/<slug:code>/records", SourceRecordsIngestApi.as_view(), name="source-records"),
    path("quarantine", QuarantineListApi.as_view(), name="quarantine"),
    path("quarantine/<uuid:record_id>/reprocess", QuarantineReprocessApi.as_view(), name="quarantine-reprocess"),
]
