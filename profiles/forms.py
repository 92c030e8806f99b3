"""Portal forms of the profiles app: signing in."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from profiles.models import PortalLogin


class SignInForm(forms.Form):
    channel = forms.ChoiceField(
        label=_("Send me"),
        choices=[
            (PortalLogin.Channel.EMAIL, _("a sign-in link by email")),
            (PortalLogin.Channel.SMS, _("a one-time code by SMS")),
        ],
        initial=PortalLogin.Channel.EMAIL,
        widget=forms.RadioSelect,
    )
    contact = forms.CharField(
        label=_("Your email address or mobile number"),
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "username", "spellcheck": "false"}),
    )


class CodeForm(forms.Form):
    code = forms.RegexField(
        label=_("The 6-digit code we sent you"),
        regex=r"^\s*\d{6}\s*$",
        error_messages={"invalid": _("Type the 6 digits of the code.")},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )
