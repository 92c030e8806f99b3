"""Portal pages of the profiles app (included under the ``portal`` namespace by c360.portal_urls)."""

from django.urls import path

from profiles import views

urlpatterns = [
    path("", views.index, name="index"),
    path("sign-in/", views.sign_in, name="sign_in"),
    path("sign-in/sent/", views.sign_in_sent, name="sign_in_sent"),
    path("sign-in/link/", views.sign_in_link, name="sign_in_link"),
    path("sign-in/code/", views.sign_in_code, name="sign_in_code"),
    path("sign-out/", views.sign_out, name="sign_out"),
    path("my-data/", views.my_data, name="my_data"),
]
