"""Forms of the web UI: they check what people type, then views hand the clean values to a selector or service."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile

SEARCH_MIN_LENGTH = 2


class CustomerSearchForm(forms.Form):
    q = forms.CharField(
        label="Search",
        max_length=100,
        min_length=SEARCH_MIN_LENGTH,
        strip=True,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args: Any, include_contact: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["q"].widget.attrs["placeholder"] = (
            "Bank customer id, name or e-mail" if include_contact else "Bank customer id, e.g. C000123"
        )


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """A file field taking several files at once (Django's documented pattern)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        single = super().clean
        if isinstance(data, list | tuple):
            if not data and self.required:
                # An empty list skips the per-file check, which is where "required" lives.
                raise ValidationError(self.error_messages["required"], code="required")
            return [single(d, initial) for d in data]
        return [single(data, initial)]


class ImportForm(forms.Form):
    files = MultipleFileField(
        label="Files", help_text="One file per entity, named after it: customers.csv, accounts.parquet..."
    )
    dry_run = forms.BooleanField(
        label="Dry run: check the files and report, write nothing", required=False, initial=True
    )


class AuditFilterForm(forms.Form):
    actor = forms.CharField(label="Actor", required=False, max_length=150)
    action = forms.CharField(label="Action", required=False, max_length=64)
    object_type = forms.CharField(label="Object type", required=False, max_length=64)
    object_id = forms.CharField(label="Object id", required=False, max_length=64)
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return data


# --- Offer catalogue, rules, levers, contact policies ----------------------------------------------------------------
# These forms only turn what people type into Python values; the catalogue services check the business rules
# (codes, ranges, dates, kinds) and name the field at fault, so every check lives in one place.

CODE_HELP = "Lower-case letters, digits, '-' or '_'. Rules refer to it, so it never changes."
# A date input shows its value only in ISO form, whatever the locale's format.
DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
LEVER_HELP = "Percent: 100 is neutral, 200 doubles the priority, 0 stops it being offered. From 0 to 1000."


def _text(label: str, *, required: bool = False, help_text: str = "", max_length: int = 2000) -> forms.CharField:
    return forms.CharField(label=label, required=required, help_text=help_text, max_length=max_length, strip=True)


def _area(label: str, *, rows: int = 4, help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        help_text=help_text,
        max_length=25_000,
        strip=False,
        widget=forms.Textarea(attrs={"rows": rows}),
    )


class _CatalogueForm(forms.Form):
    """Create forms ask for a code and a starting lever; edit forms show neither
    (codes never change, levers are set on the Levers page)."""

    creating_only = ("code", "lever_percent")

    def __init__(self, *args: Any, creating: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not creating:
            for name in self.creating_only:
                self.fields.pop(name, None)


class IssueForm(_CatalogueForm):
    code = _text("Code", required=True, help_text=CODE_HELP, max_length=100)
    name = _text("Name", required=True, max_length=500)
    description = _area("Description", rows=3, help_text="Why the bank makes these offers.")
    transactional = forms.BooleanField(
        label="Transactional: service messages the customer needs, not marketing", required=False
    )
    lever_percent = forms.IntegerField(label="Lever", initial=100, help_text=LEVER_HELP)


class GroupForm(_CatalogueForm):
    issue = forms.ChoiceField(label="Business issue")
    code = _text("Code", required=True, help_text=CODE_HELP, max_length=100)
    name = _text("Name", required=True, max_length=500)
    lever_percent = forms.IntegerField(label="Lever", initial=100, help_text=LEVER_HELP)

    def __init__(self, *args: Any, issues: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["issue"].choices = issues


class OfferForm(_CatalogueForm):
    group = forms.ChoiceField(label="Offer group")
    product = forms.ChoiceField(label="Product")
    code = _text("Code", required=True, help_text=CODE_HELP, max_length=100)
    name = _text("Name", required=True, max_length=500)
    headline_value = _text("Headline value", help_text="Shown to customers, e.g. '4.1% APR'.", max_length=500)
    value = forms.DecimalField(label="Value to the bank", help_text="Expected value of one take-up, e.g. 950.00.")
    currency = _text("Currency", required=True, help_text="ISO 4217 code, e.g. EUR.", max_length=10)
    starts_on = forms.DateField(label="Starts on", required=False, widget=DATE_INPUT)
    ends_on = forms.DateField(label="Ends on", required=False, widget=DATE_INPUT)
    exclusion_group = _text(
        "Exclusion group", help_text="Offers sharing one are never made together. Empty: none.", max_length=100
    )
    is_credit = forms.BooleanField(label="Credit product: the credit gates apply", required=False)
    active = forms.BooleanField(label="Active: the engine may make this offer", required=False, initial=True)
    lever_percent = forms.IntegerField(label="Lever", initial=100, help_text=LEVER_HELP)

    def __init__(
        self, *args: Any, groups: list[tuple[str, Any]], products: list[tuple[str, str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["group"].choices = groups
        self.fields["product"].choices = products


class TreatmentForm(forms.Form):
    subject = _text("Subject or title", help_text="Email subject or banner title.", max_length=25_000)
    body = _area("Body", rows=7, help_text="Email body, push text, banner text or talking points.")
    disclosures = _area("Disclosures", rows=3, help_text="The product's mandatory disclosures, shown every time.")


class RuleForm(forms.Form):
    name = _text("Name", max_length=500)
    kind = forms.ChoiceField(label="Kind")
    applies_to = forms.ChoiceField(label="Applies to")
    tree = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, kinds: list[tuple[str, str]], targets: list[tuple[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = kinds
        self.fields["applies_to"].choices = targets


class ContactPolicyForm(_CatalogueForm):
    creating_only = ("code",)

    code = _text(
        "Code", required=True, help_text="Lower-case letters, digits, '-' or '_'; it never changes.", max_length=100
    )
    name = _text("Name", required=True, max_length=500)
    kind = forms.ChoiceField(label="Kind")
    channel = forms.ChoiceField(label="Channel", required=False)
    limit = forms.IntegerField(label="Limit", help_text="Caps: offers made. Suppressions: rejections or ignores.")
    period_days = forms.IntegerField(label="Over the last (days)")
    suppress_days = forms.IntegerField(
        label="Rest for (days)", required=False, initial=0, help_text="Suppressions only; 0 for caps."
    )

    def __init__(
        self, *args: Any, kinds: list[tuple[str, str]], channels: list[tuple[str, str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = kinds
        self.fields["channel"].choices = channels


def form_errors_from(form: forms.Form, exc: ValidationError, aliases: dict[str, str] | None = None) -> None:
    """Put a service's ValidationError on the form: each message next to its field
    (``aliases`` maps a service's name for it to the form's), the rest on top."""
    aliases = aliases or {}
    if not hasattr(exc, "error_dict"):
        for message in exc.messages:
            form.add_error(None, message)
        return
    for key, messages in exc.message_dict.items():
        name = aliases.get(key, key)
        if name in form.fields and not form.fields[name].widget.is_hidden:
            form.add_error(name, messages)
        else:
            form.add_error(None, [f"{key.replace('_', ' ')}: {m}" for m in messages])
