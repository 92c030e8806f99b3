"""The portal form to file a request: any right, for oneself or for someone else (with proof)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from c360.lib.identifiers import IdentifierError, IdentifierKind, normalise
from consent.models import Purpose
from dsar.models import DataRequest, RequestType
from dsar.selectors import REQUEST_TYPE_HELP, REQUEST_TYPE_LABELS
from dsar.services.documents import EXTENSIONS, document_type_detect

# Types whose details box must say what to do: the wrong value and the right one, or the purpose.
DETAILS_REQUIRED = {
    RequestType.RECTIFICATION: _("Say what is wrong and what the right value is."),
    RequestType.OBJECTION: _("Say which use of your data you object to."),
    RequestType.CONSENT_REVOCATION: _("Say which consent you withdraw (for which purpose)."),
}
PURPOSE_TYPES = {RequestType.OBJECTION, RequestType.CONSENT_REVOCATION}
ELECTRONIC, PRINTED = "electronic", "printed"
PURPOSES_LIMIT = 100


class ExplainedRadioSelect(forms.RadioSelect):
    """Radio buttons with a one-line explanation under each, tied to its button by aria-describedby."""

    def __init__(self, *args: Any, explanations: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.explanations = explanations or {}

    def create_option(self, name: str, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(name, value, *args, **kwargs)
        explanation = self.explanations.get(str(value))
        if explanation:
            option["explanation"] = explanation
            option["explanation_id"] = f"{option['attrs']['id']}_help"
            option["attrs"]["aria-describedby"] = option["explanation_id"]
        return option


def _type_choices() -> list[tuple[str, Any]]:
    return [(value, REQUEST_TYPE_LABELS[RequestType(value)]) for value in RequestType.values]


class RequestForm(forms.Form):
    """Every field has a visible label; the template groups the radio buttons in fieldsets with legends."""

    request_type = forms.ChoiceField(
        label=_("What do you want to ask us?"),
        choices=_type_choices,
        widget=ExplainedRadioSelect(explanations={str(key): text for key, text in REQUEST_TYPE_HELP.items()}),
    )
    details = forms.CharField(
        label=_("Details"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_(
            "To correct data: what is wrong and the right value. To object or withdraw consent: which purpose. "
            "For anything else, add what helps us (optional)."
        ),
    )
    purposes = forms.MultipleChoiceField(
        label=_("Which purposes? (for an objection or a consent withdrawal)"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("If you tick none, it applies to all of them (to all direct marketing, for an objection)."),
    )
    answer_format = forms.ChoiceField(
        label=_("How do you want the answer?"),
        choices=[
            (ELECTRONIC, _("Electronically: a download in this portal (we email you when it is ready)")),
            (PRINTED, _("A printed letter by post")),
        ],
        initial=ELECTRONIC,
        widget=forms.RadioSelect,
    )
    postal_address = forms.CharField(
        label=_("Postal address for the letter"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Only for a printed letter. Leave it empty to use the address we have on file."),
    )
    requester = forms.ChoiceField(
        label=_("Who is the request for?"),
        choices=[
            (DataRequest.Requester.SUBJECT, _("For me")),
            (DataRequest.Requester.REPRESENTATIVE, _("For someone I represent (for example with a power of attorney)")),
            (DataRequest.Requester.GUARDIAN, _("For my child, or a person under my guardianship")),
        ],
        initial=DataRequest.Requester.SUBJECT,
        widget=forms.RadioSelect,
    )
    requester_name = forms.CharField(
        label=_("Your full name, as on the proof"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    represented_name = forms.CharField(label=_("Their full name"), required=False, max_length=200)
    represented_email = forms.EmailField(label=_("Their email address"), required=False, max_length=320)
    represented_cpf = forms.CharField(
        label=_("Their CPF"), required=False, max_length=20, help_text=_("Give their email address, their CPF or both.")
    )
    proof = forms.FileField(
        label=_("Proof that you may act for them"),
        required=False,
        widget=forms.FileInput(attrs={"accept": ".pdf,.png,.jpg,.jpeg,application/pdf,image/png,image/jpeg"}),
    )

    def __init__(self, *args: Any, has_subject: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.has_subject = has_subject
        limit = filesizeformat(settings.C360_PORTAL_UPLOAD_MAX_BYTES)
        self.fields["proof"].help_text = _(
            "A power of attorney, a court decision or a birth certificate: "
            "a PDF, PNG or JPEG file of at most %(limit)s."
        ) % {"limit": limit}
        language = get_language() or settings.LANGUAGE_CODE
        self.fields["purposes"].choices = [
            (purpose.code, purpose.names.get(language) or purpose.names.get("en") or purpose.code)
            for purpose in Purpose.objects.filter(is_active=True)
            .only("code", "names")
            .order_by("code")[:PURPOSES_LIMIT]
        ]
        self._describe()

    def _describe(self) -> None:
        """Tie each control to its help text and, after validation, to its errors (ids of _field.html)."""
        for name, field in self.fields.items():
            if isinstance(field.widget, forms.RadioSelect | forms.CheckboxSelectMultiple):
                continue  # groups: the fieldset carries the description (template)
            described = [f"id_{name}_help"] if field.help_text else []
            if self.is_bound and name in self._errors_or_empty():
                described.append(f"id_{name}_error")
                field.widget.attrs["aria-invalid"] = "true"
            if described:
                field.widget.attrs["aria-describedby"] = " ".join(described)

    def _errors_or_empty(self) -> dict[str, Any]:
        return self._errors if self._errors is not None else {}

    def full_clean(self) -> None:
        super().full_clean()
        self._describe()

    def clean_represented_cpf(self) -> str:
        value = self.cleaned_data.get("represented_cpf", "").strip()
        if not value:
            return ""
        try:
            return normalise(IdentifierKind.CPF, value)
        except IdentifierError:
            raise forms.ValidationError(_("This is not a valid CPF."), code="invalid") from None

    def clean_proof(self) -> UploadedFile | None:
        upload: UploadedFile | None = self.cleaned_data.get("proof")
        if not upload:
            return None
        limit = settings.C360_PORTAL_UPLOAD_MAX_BYTES
        if upload.size is None or upload.size > limit:
            raise forms.ValidationError(
                _("The file is too large: send at most %(limit)s.") % {"limit": filesizeformat(limit)}, code="too_large"
            )
        upload.seek(0)
        head = upload.read(16)
        upload.seek(0)
        content_type = document_type_detect(head)
        extension = (upload.name or "").rsplit(".", 1)[-1].lower() if "." in (upload.name or "") else ""
        allowed_extensions = {*EXTENSIONS.values(), "jpeg"}
        # The content decides; the name must agree with an accepted type too (a renamed file is refused).
        if content_type is None or extension not in allowed_extensions:
            raise forms.ValidationError(_("Send a PDF, PNG or JPEG file."), code="file_type")
        upload.detected_content_type = content_type  # type: ignore[attr-defined]
        return upload

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        request_type = cleaned.get("request_type")
        if request_type in DETAILS_REQUIRED and not cleaned.get("details", "").strip():
            self.add_error("details", DETAILS_REQUIRED[RequestType(request_type)])
        if request_type not in PURPOSE_TYPES:
            cleaned["purposes"] = []
        if cleaned.get("answer_format") == PRINTED and not self.has_subject and not cleaned.get("postal_address"):
            self.add_error("postal_address", _("Give the address to send the letter to."))
        if cleaned.get("requester", DataRequest.Requester.SUBJECT) != DataRequest.Requester.SUBJECT:
            if not cleaned.get("represented_name", "").strip():
                self.add_error("represented_name", _("Give the name of the person you act for."))
            if (
                not cleaned.get("represented_email")
                and not cleaned.get("represented_cpf")
                and "represented_cpf" not in self.errors
            ):
                self.add_error("represented_email", _("Give their email address or their CPF."))
            if not cleaned.get("proof") and "proof" not in self.errors:
                self.add_error("proof", _("Attach the proof that you may act for them."))
        return cleaned

    def details_payload(self) -> dict[str, Any]:
        """What goes in the request's encrypted details (read by staff and, for purposes, by the sources)."""
        cleaned = self.cleaned_data
        payload: dict[str, Any] = {"answer_format": cleaned["answer_format"]}
        if cleaned.get("details", "").strip():
            payload["text"] = cleaned["details"].strip()
        if cleaned.get("purposes"):
            payload["purposes"] = list(cleaned["purposes"])
        if cleaned["answer_format"] == PRINTED and cleaned.get("postal_address", "").strip():
            payload["postal_address"] = cleaned["postal_address"].strip()
        if cleaned["requester"] != DataRequest.Requester.SUBJECT:
            payload["represented_name"] = cleaned["represented_name"].strip()
        return payload

    def represented_identities(self) -> list[dict[str, str]]:
        cleaned = self.cleaned_data
        identities = []
        if cleaned.get("represented_email"):
            identities.append({"kind": "email", "value": cleaned["represented_email"]})
        if cleaned.get("represented_cpf"):
            identities.append({"kind": "cpf", "value": cleaned["represented_cpf"]})
        return identities
