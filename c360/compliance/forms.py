"""Forms of the staff console: queue filters, and one form per request action (each with its reasons).

The forms only check the shape of what staff typed; the rules (which transitions, which regimes allow
what) are the DSAR services', whose errors the views show as messages.
"""

from __future__ import annotations

from django import forms

from dsar.models import DataRequest, IntakeChannel, Regime, RequestType

from .dashboard import BUCKETS, SORTS

Status = DataRequest.Status


class QueueFilterForm(forms.Form):
    bucket = forms.ChoiceField(required=False, choices=[("", "Any due date"), *BUCKETS.items()])
    request_type = forms.ChoiceField(required=False, label="Type", choices=[("", "Any type"), *RequestType.choices])
    status = forms.ChoiceField(
        required=False, choices=[("", "Open (any open state)"), ("all", "Any state"), *Status.choices]
    )
    regime = forms.ChoiceField(required=False, choices=[("", "Any regime"), *Regime.choices])
    sort = forms.ChoiceField(required=False, choices=[(key, label) for key, (_order, label) in SORTS.items()])

    def filters(self) -> dict[str, str]:
        """The valid filters (an invalid value is ignored rather than failing the page)."""
        if not self.is_valid():
            return {name: self.cleaned_data.get(name, "") for name in self.fields if name in self.cleaned_data}
        return {name: value for name, value in self.cleaned_data.items() if value}


class VerifyForm(forms.Form):
    method = forms.ChoiceField(
        choices=[(value, label) for value, label in DataRequest.Verification.choices if value],
        initial=DataRequest.Verification.STAFF,
    )
    outcome = forms.ChoiceField(
        choices=[("verified", "Verified: start the request"), ("failed", "Failed: identity not confirmed")]
    )
    authority_proven = forms.BooleanField(required=False, label="A representative's proof of authority was checked")


class CompleteForm(forms.Form):
    note = forms.CharField(
        required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2}), help_text="No personal data."
    )


class RejectForm(forms.Form):
    reason = forms.ChoiceField(
        choices=[(value, label) for value, label in DataRequest.RejectionReason.choices if value]
    )
    text = forms.CharField(
        min_length=10,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="The reasons, as the requester will read them in the answer.",
    )


class ExtendForm(forms.Form):
    reason = forms.CharField(
        min_length=10,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why two more months are needed (complexity, number of requests): told to the requester.",
    )


class CancelForm(forms.Form):
    note = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why (e.g. withdrawn by the requester). No personal data.",
    )


class RetryForm(forms.Form):
    task_id = forms.IntegerField(widget=forms.HiddenInput)


class ReleaseForm(forms.Form):
    """Issue a single-use download link of the package (no fields: the button is the confirmation)."""


ACTION_FORMS: dict[str, type[forms.Form]] = {
    "verify": VerifyForm,
    "complete": CompleteForm,
    "reject": RejectForm,
    "extend": ExtendForm,
    "cancel": CancelForm,
    "retry": RetryForm,
    "release": ReleaseForm,
}


class IntakeForm(forms.Form):
    """A request that arrived by email, phone, letter or in person, registered by staff (LEGAL R-01)."""

    request_type = forms.ChoiceField(label="Type", choices=RequestType.choices)
    regimes = forms.MultipleChoiceField(choices=Regime.choices, widget=forms.CheckboxSelectMultiple)
    intake_channel = forms.ChoiceField(
        label="Arrived by", choices=[choice for choice in IntakeChannel.choices if choice[0] != IntakeChannel.PORTAL]
    )
    received_at = forms.DateTimeField(
        label="First arrived at",
        help_text="When it first reached any of our channels (kept when it was forwarded), e.g. 2026-11-20 14:30.",
    )
    identity_kind = forms.ChoiceField(
        label="Find the person by", choices=[("email", "Email"), ("phone", "Phone"), ("cpf", "CPF")]
    )
    identity_value = forms.CharField(label="Their email, phone or CPF", max_length=254)
    requester_name = forms.CharField(label="Name given", max_length=200, required=False)
    contact_email = forms.EmailField(label="Answer to (email)", required=False)
    language = forms.ChoiceField(choices=[("pt-br", "Português"), ("en", "English"), ("es", "Español")])
    details = forms.CharField(label="What they asked", widget=forms.Textarea(attrs={"rows": 4}), required=False)
