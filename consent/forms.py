"""Portal forms of the consent app: the one-button forms that give, withdraw or object.

None carries a subject id: whose consent changes comes from the session, never from the form. Each form
checks its input against the live catalogue, so an unknown purpose, a channel the purpose does not use or a
notice version not linked to the purpose is refused before anything reaches the ledger.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from consent.models import ALL, LEGITIMATE_INTEREST_BASES, Purpose
from consent.selectors import notice_version_of_purpose, purpose_active

GRANT, WITHDRAW = "grant", "withdraw"
UNKNOWN_PURPOSE = _("That purpose does not exist or is no longer in use.")


class ConsentChangeForm(forms.Form):
    purpose = forms.CharField(max_length=80, error_messages={"required": UNKNOWN_PURPOSE})
    channel = forms.CharField(max_length=16, error_messages={"required": _("Say which channel the change is for.")})
    action = forms.ChoiceField(
        choices=[(GRANT, _("Give consent")), (WITHDRAW, _("Withdraw"))],
        error_messages={
            "required": _("Say whether to give or to withdraw consent."),
            "invalid_choice": _("The only changes possible are to give or to withdraw consent."),
        },
    )
    notice_version = forms.CharField(max_length=20, required=False)

    def clean_purpose(self) -> Purpose:
        purpose = purpose_active(code=self.cleaned_data["purpose"])
        if purpose is None or not purpose.needs_consent:
            raise forms.ValidationError(UNKNOWN_PURPOSE, code="unknown_purpose")
        return purpose

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        purpose, channel = cleaned.get("purpose"), cleaned.get("channel")
        if purpose is None:
            return cleaned
        if channel is not None and (channel == ALL or channel not in purpose.channels):
            self.add_error("channel", forms.ValidationError(_("That purpose does not use this channel."), "channel"))
        if cleaned.get("action") == GRANT:
            notice = notice_version_of_purpose(purpose=purpose, notice_version_id=cleaned.get("notice_version"))
            if notice is None:
                self.add_error(
                    "notice_version",
                    forms.ValidationError(
                        _("We could not tell which notice you were shown. Reload the page and try again."), "notice"
                    ),
                )
            cleaned["notice"] = notice
        return cleaned


class ObjectionForm(forms.Form):
    """An objection to one purpose resting on legitimate interest, or (purpose ``*``) to all direct marketing."""

    purpose = forms.CharField(max_length=80, error_messages={"required": UNKNOWN_PURPOSE})

    def clean_purpose(self) -> Purpose | str:
        """The purpose objected to, or ``*`` for all direct marketing."""
        code = self.cleaned_data["purpose"]
        if code == ALL:
            return code
        purpose = purpose_active(code=code)
        if purpose is None or not {purpose.lgpd_basis, purpose.gdpr_basis} & LEGITIMATE_INTEREST_BASES:
            raise forms.ValidationError(UNKNOWN_PURPOSE, code="unknown_purpose")
        return purpose


def form_problems(form: forms.Form) -> list[str]:
    """Every error of a refused form, as plain sentences for the page (the forms have no visible fields)."""
    return [str(message) for errors in form.errors.values() for message in errors]
