from django.contrib import admin
from django.urls import include, path

from c360 import health, views
from c360.access.admin import ConsoleAdminSite
from c360.metrics import metrics_view

admin.site.__class__ = ConsoleAdminSite  # two factors to sign in (C360_ADMIN_OTP)
admin.site.site_header = "c360 — privacy and consent"
admin.site.site_title = "c360"
admin.site.index_title = "DPO console"

urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("console/", include("c360.compliance.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("c360.api.urls")),
    path("portal/", include("c360.portal_urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]

handler404 = "c360.views.not_found"
handler500 = "c360.views.server_error"
