"""Portal pages of the consent app (included under the ``portal`` namespace by c360.portal_urls)."""

from django.urls import path

from consent import views

urlpatterns = [
    path("about/", views.about, name="about"),
    path("consents/", views.consents, name="consents"),
    path("consents/change/", views.consent_change, name="consent_change"),
    path("consents/object/", views.objection, name="consent_object"),
    path("consents/history/", views.consent_history, name="consent_history"),
]
