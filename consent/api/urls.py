from django.urls import path

from .views import (
    AudienceCheckCreateApi,
    AudienceCheckDetailApi,
    AudienceCheckResultApi,
    ConsentBulkCheckApi,
    ConsentCheckApi,
    ConsentEventCreateApi,
    ReceiptSigningKeyApi,
    SubjectConsentsApi,
)

urlpatterns = [
    path("consent/events", ConsentEventCreateApi.as_view(), name="consent-events"),
    path("consent/check", ConsentCheckApi.as_view(), name="consent-check"),
    path("consent/check/bulk", ConsentBulkCheckApi.as_view(), name="consent-check-bulk"),
    path("subjects/<uuid:subject_id>/consents", SubjectConsentsApi.as_view(), name="subject-consents"),
    path("audience-checks", AudienceCheckCreateApi.as_view(), name="audience-checks"),
    path("audience-checks/signing-key", ReceiptSigningKeyApi.as_view(), name="receipt-signing-key"),
    path("audience-checks/<uuid:check_id>", AudienceCheckDetailApi.as_view(), name="audience-check"),
    path("audience-checks/<uuid:check_id>/result", AudienceCheckResultApi.as_view(), name="audience-check-result"),
]
