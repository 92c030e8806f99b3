from django.urls import path

from .views import SubjectCreateApi, SubjectDetailApi, SubjectFindApi

urlpatterns = [
    path("subjects", SubjectCreateApi.as_view(), name="subject-create"),
    path("subjects/find", SubjectFindApi.as_view(), name="subject-find"),
    path("subjects/<uuid:subject_id>", SubjectDetailApi.as_view(), name="subject-detail"),
]
