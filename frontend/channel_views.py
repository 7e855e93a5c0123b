"""Pages of the delivery channels: the unsubscribe link of offer emails, the push
gateway's settings, and an example of the bank's website showing web content."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from campaigns.channels.email import email_marketing_withdrawn, unsubscribe_read, unsubscribe_record
from campaigns.channels.push import MIN_SECRET_CHARS, push_gateway_active, push_gateway_save
from campaigns.models import PushGateway
from frontend.forms import form_errors_from
from frontend.views import requires

# --- unsubscribe ------------------------------------------------------------------------------------------------------


# Mail clients POST the one-click unsubscribe (RFC 8058) with no CSRF token; the signed
# token in the URL is what proves the request came from the customer's email.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks to confirm (link scanners follow links; they must not unsubscribe
    anyone); POST, from the page or the mail client's one-click, records it."""
    found = unsubscribe_read(token)
    if found is None:
        return render(request, "frontend/unsubscribe.html", {"state": "invalid"}, status=404)
    now = timezone.now()
    if request.method == "POST":
        unsubscribe_record(request=found, now=now)
        return render(request, "frontend/unsubscribe.html", {"state": "done"})
    state = "already" if email_marketing_withdrawn(found.customer, now=now) else "confirm"
    return render(request, "frontend/unsubscribe.html", {"state": state})


# --- push gateway ------------------------------------------------------------------------------------------------------


class PushGatewayForm(forms.Form):
    url = forms.CharField(
        label="Gateway URL",
        max_length=500,
        widget=forms.URLInput(attrs={"placeholder": "https://push.bank.example/notify"}),
        help_text="Each notification is POSTed here as JSON.",
    )
    secret = forms.CharField(
        label="Shared secret",
        required=False,
        max_length=200,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=f"Signs every request (X-Crossell-Signature, HMAC-SHA256). At least {MIN_SECRET_CHARS} "
        "characters; leave blank to keep the current one.",
    )
    timeout_seconds = forms.DecimalField(
        label="Timeout (seconds)",
        min_value=Decimal("0.5"),
        max_value=Decimal("60"),
        decimal_places=1,
        initial=Decimal("5"),
        help_text="A gateway slower than this counts as unavailable; the notification is retried later.",
    )


@requires("manage_campaigns")
@require_http_methods(["GET", "POST"])
def push_gateway_settings(request: HttpRequest) -> HttpResponse:
    gateway = push_gateway_active() or PushGateway.objects.order_by("-updated_at", "-id").first()
    initial = {"url": gateway.url, "timeout_seconds": gateway.timeout_seconds} if gateway else {}
    form = PushGatewayForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            push_gateway_save(
                url=data["url"],
                secret=data["secret"],
                timeout_seconds=data["timeout_seconds"],
                actor=request.user,
                now=timezone.now(),
            )
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, "Push gateway saved.")
            return redirect(reverse("frontend:push-gateway"))
    return render(
        request,
        "frontend/push_gateway.html",
        {"form": form, "gateway": gateway},
        status=400 if request.method == "POST" else 200,
    )


# --- web content example -----------------------------------------------------------------------------------------------


@login_required
@require_GET
def web_content_example(request: HttpRequest) -> HttpResponse:
    """A page as the bank's website would build it: it asks the web-content API for
    a customer's banner and shows it. Static: it holds no data of its own."""
    return render(request, "frontend/web_content_example.html", {"api_url": reverse("web-content")})
