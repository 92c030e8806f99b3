"""Portal pages of the dsar app (included under the ``portal`` namespace by c360.portal_urls)."""

from django.urls import path

from dsar import views

urlpatterns = [
    path("requests/", views.request_list, name="requests"),
    path("requests/new/", views.request_new, name="request_new"),
    path("requests/<str:protocol>/", views.request_detail, name="request_detail"),
    path("requests/<str:protocol>/download/", views.request_download, name="request_download"),
    path("requests/<str:protocol>/cancel/", views.request_cancel_view, name="request_cancel"),
]
