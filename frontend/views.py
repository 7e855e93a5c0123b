"""Pages of the web UI. Each view checks the role, validates a form, calls one
selector or service and renders a template; the work is done elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from core.models import TaskRunState
from core.permissions import user_can
from customers import selectors as customer_selectors
from customers.importing.errors import ImportFailed
from customers.importing.formats import FORMATS
from frontend import selectors
from frontend.context_processors import nav_items
from frontend.forms import AuditFilterForm, CustomerSearchForm, ImportForm

View = Callable[..., HttpResponse]

# What each capability lets a person do, for the "no access" page.
CAPABILITY_PHRASES = {
    "view_customers": "look up customers",
    "run_imports": "import the bank's data",
    "view_tasks": "follow background tasks",
    "view_audit": "read the audit trail",
    "view_models": "see propensity models and segments",
    "manage_models": "train, activate and roll back models",
    "approve": "approve models",
    "manage_offers": "edit offers, rules, levers and contact policies",
    "view_offers": "see the offer catalogue, rules and levers",
}


def no_access(request: HttpRequest, capability: str) -> HttpResponse:
    phrase = CAPABILITY_PHRASES.get(capability, capability.replace("_", " "))
    return render(request, "frontend/no_access.html", {"needed": phrase}, status=403)


def requires(capability: str) -> Callable[[View], View]:
    """Log in first (anonymous people go to the login page), then hold ``capability``
    (others get the 403 "no access" page)."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not user_can(request.user, capability):
                return no_access(request, capability)
            return view(request, *args, **kwargs)

        return login_required(wrapped)

    return decorator


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The landing page, open to every signed-in person; without a role it says whom to ask."""
    return render(request, "frontend/home.html", {"tiles": nav_items(request.user, None)})


@requires("view_customers")
@require_GET
def customer_search(request: HttpRequest) -> HttpResponse:
    include_contact = user_can(request.user, "view_contact_details")
    form = CustomerSearchForm(request.GET or None, include_contact=include_contact)
    results = None
    if form.is_valid():
        query = form.cleaned_data["q"]
        results = customer_selectors.customer_search(query=query, include_contact=include_contact)
        # A bank id typed in full opens that customer at once.
        exact = [r.customer for r in results if r.customer.external_id.lower() == query.lower()]
        if len(exact) == 1:
            return redirect("frontend:customer-360", external_id=exact[0].external_id)
    return render(
        request,
        "frontend/customer_search.html",
        {"form": form, "results": results, "include_contact": include_contact},
    )


@requires("view_customers")
@require_GET
def customer_360(request: HttpRequest, external_id: str) -> HttpResponse:
    customer = customer_selectors.customer_get(external_id=external_id)
    if customer is None:
        raise Http404(f"No customer with bank id {external_id}")
    data = customer_selectors.customer_360(
        customer=customer,
        show_contact=user_can(request.user, "view_contact_details"),
        now=timezone.now(),
        transaction_page=request.GET.get("page"),
    )
    charts = {
        "balance": data.balance_trend.as_json(),
        "spending": data.spending_chart.as_json(),
        "score": data.credit_score_chart.as_json(),
    }
    segments = _customer_segments(customer)
    return render(
        request,
        "frontend/customer_360.html",
        {
            "c": data,
            "customer": customer,
            "charts": charts,
            "segments": segments,
            "propensity": _customer_propensity(customer),
        },
    )


def _customer_propensity(customer: Any) -> dict[str, Any]:
    """The customer's real-time scores for the page: what the decision engine would see now."""
    from customers.models import Product
    from modeling.models import ModelVersion
    from modeling.scoring import UnknownCustomerError, score_customer

    try:
        result = score_customer(customer_id=customer.pk, now=timezone.now())
    except UnknownCustomerError as exc:
        return {"available": False, "message": str(exc)}
    if not result.available:
        return {"available": False, "message": result.message}
    products = Product.objects.in_bulk([s.product_id for s in result.scores])
    versions = ModelVersion.objects.in_bulk([s.model_version_id for s in result.scores if s.model_version_id])
    rows = []
    for s in result.scores:
        version = versions.get(s.model_version_id)
        rows.append(
            {
                "product_code": s.product_code,
                "product_name": products[s.product_id].name if s.product_id in products else s.product_code,
                "percent": 100 * s.propensity,
                "reasons": s.reasons,
                "model_version": version.version if version else None,
                "model_url": reverse("frontend:model-detail", args=[version.public_id]) if version else "",
            }
        )
    return {"available": True, "scores": rows}


@requires("run_imports")
@require_http_methods(["GET", "POST"])
def import_files(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        # Imported here: the importing services load pandas and pyarrow, which
        # every other page can do without.
        from customers.importing.services import import_start

        try:
            run = import_start(
                uploaded=request.FILES.getlist("files"), dry_run=form.cleaned_data["dry_run"], actor=request.user
            )
        except ImportFailed as exc:
            for error in exc.errors:
                form.add_error(None, str(error))
            hidden = sum(exc.counts.values()) - len(exc.errors)
            if hidden > 0:
                form.add_error(None, f"... and {hidden} more error(s) not shown.")
        except ValidationError as exc:
            for message in exc.messages:
                form.add_error(None, message)
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("frontend:task-run-detail", task_id=run.task_id)
    return render(request, "frontend/import.html", {"form": form, "formats": FORMATS})


@requires("view_tasks")
@require_GET
def task_run_list(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    if state not in TaskRunState.values:
        state = ""
    page = selectors.task_run_page(page=request.GET.get("page"), state=state)
    return render(
        request,
        "frontend/task_run_list.html",
        {
            "page": page,
            "state": state,
            "states": TaskRunState.choices,
            "query": urlencode({"state": state} if state else {}),
        },
    )


@requires("view_tasks")
@require_GET
def task_run_detail(request: HttpRequest, task_id: str) -> HttpResponse:
    run = selectors.task_run_get(task_id=task_id)
    if run is None:
        raise Http404(f"No task run {task_id}")
    return render(
        request,
        "frontend/task_run_detail.html",
        {"run": run, "poll_url": reverse("task-run-detail", kwargs={"task_id": run.task_id})},
    )


@requires("view_audit")
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    filters: dict[str, Any] = {}
    if form.is_valid():
        filters = {k: v for k, v in form.cleaned_data.items() if v}
    page = selectors.audit_event_page(page=request.GET.get("page"), **filters)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "frontend/audit_list.html", {"form": form, "page": page, "query": query.urlencode()})


# --- Models ------------------------------------------------------------------------------------------------------


@requires("view_models")
@require_GET
def model_list(request: HttpRequest) -> HttpResponse:
    from modeling import registry
    from modeling import selectors as model_selectors

    return render(
        request,
        "frontend/model_list.html",
        {
            "products": model_selectors.model_versions_by_product(),
            "status": registry.scoring_status(),
            "runs": model_selectors.scoring_run_list(limit=5),
            "can_manage": user_can(request.user, "manage_models"),
        },
    )


@requires("view_models")
@require_GET
def model_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    from modeling import selectors as model_selectors

    version = model_selectors.model_version_get(public_id=public_id)
    if version is None:
        raise Http404("No such model version")
    report = model_selectors.model_version_report(version)
    user = request.user
    return render(
        request,
        "frontend/model_detail.html",
        {
            "version": version,
            "report": report,
            "history": model_selectors.model_version_history(version=version),
            "can_approve": user_can(user, "approve") and version.status == "candidate",
            "own_model": version.trained_by_id is not None and version.trained_by_id == user.pk,
            "can_activate": user_can(user, "manage_models") and version.status == "approved",
            "can_retire": user_can(user, "manage_models") and version.status == "active",
            "can_rollback": user_can(user, "manage_models") and version.status == "active",
        },
    )


MODEL_ACTIONS = {"approve": "approve", "reject": "approve", "activate": "manage_models", "retire": "manage_models"}


@login_required
@require_http_methods(["POST"])
def model_action(request: HttpRequest, public_id: str, action: str) -> HttpResponse:
    """Approve, reject, activate or retire a version, through the registry services."""
    from django.contrib import messages
    from django.core.exceptions import PermissionDenied

    from modeling import registry
    from modeling import selectors as model_selectors

    capability = MODEL_ACTIONS.get(action)
    if capability is None:
        raise Http404("No such action")
    if not user_can(request.user, capability):
        return no_access(request, capability)
    version = model_selectors.model_version_get(public_id=public_id)
    if version is None:
        raise Http404("No such model version")
    now = timezone.now()
    note = request.POST.get("note", "").strip()[:2000]
    try:
        if action == "approve":
            registry.model_version_approve(version=version, actor=request.user, now=now, note=note)
        elif action == "reject":
            registry.model_version_reject(version=version, actor=request.user, now=now, note=note)
        elif action == "activate":
            registry.model_version_activate(version=version, actor=request.user, now=now)
        else:
            registry.model_version_retire(version=version, actor=request.user, now=now, note=note)
    except (registry.RegistryError, PermissionDenied) as exc:
        messages.error(request, str(exc))
    else:
        done = {"approve": "approved", "reject": "rejected", "activate": "activated", "retire": "retired"}[action]
        messages.success(request, f"{version.product.code} v{version.version} {done}.")
    return redirect("frontend:model-detail", public_id=version.public_id)


@requires("manage_models")
@require_http_methods(["POST"])
def model_rollback(request: HttpRequest, product_code: str) -> HttpResponse:
    from django.contrib import messages

    from customers.models import Product
    from modeling import registry

    product = Product.objects.filter(code=product_code).first()
    if product is None:
        raise Http404("No such product")
    try:
        version = registry.model_version_rollback(product=product, actor=request.user, now=timezone.now())
    except registry.RegistryError as exc:
        messages.error(request, str(exc))
        return redirect("frontend:model-list")
    messages.success(request, f"{product.code} rolled back: v{version.version} is active again.")
    return redirect("frontend:model-detail", public_id=version.public_id)


@requires("manage_models")
@require_http_methods(["POST"])
def scoring_start(request: HttpRequest) -> HttpResponse:
    """Queue a batch scoring of every customer with the active models."""
    from core.task_runs import task_run_enqueue
    from modeling.tasks import scoring_start_task

    run = task_run_enqueue(
        scoring_start_task,
        kwargs={"requested_by_id": request.user.pk},
        label="Score every customer",
        requested_by=request.user,
    )
    return redirect("frontend:task-run-detail", task_id=run.task_id)


@requires("manage_models")
@require_http_methods(["POST"])
def models_train(request: HttpRequest) -> HttpResponse:
    """Queue a training run and follow it on its task page."""
    from core.task_runs import task_run_enqueue
    from modeling.tasks import train_models_task

    run = task_run_enqueue(
        train_models_task,
        kwargs={"requested_by_id": request.user.pk, "force": request.POST.get("force") == "1"},
        label="Train propensity models",
        requested_by=request.user,
    )
    return redirect("frontend:task-run-detail", task_id=run.task_id)


# --- Segments -------------------------------------------------------------------------------------------------------


def _customer_segments(customer: Any) -> list[Any]:
    """The customer's current segments, in kind order, for the Customer 360 page."""
    from modeling.models import SegmentationKind
    from modeling.segments import customer_segments

    found = customer_segments(customer_id=customer.pk)
    return [found[kind] for kind in SegmentationKind.values if kind in found]


def _selection_chart(segmentation: Any) -> dict[str, Any]:
    """The score of each candidate k, for the "choosing k" chart."""
    selection = segmentation.selection or {}
    scores = selection.get("scores") or []
    criterion = selection.get("criterion", "")
    second = "silhouette" if criterion == "bic" else "inertia"
    return {
        "k": [s["k"] for s in scores],
        "chosen": selection.get("k"),
        "criterion": criterion,
        "better": selection.get("better", ""),
        "values": [s.get(criterion) for s in scores],
        "second": second,
        "second_values": [s.get(second) for s in scores],
        "smallest_share": [s.get("smallest_share") for s in scores],
        "min_share": selection.get("min_segment_share"),
    }


@requires("view_models")
@require_GET
def segment_list(request: HttpRequest) -> HttpResponse:
    from modeling.segments import segmentations_current

    return render(
        request,
        "frontend/segment_list.html",
        {"segmentations": segmentations_current(), "can_manage": user_can(request.user, "manage_models")},
    )


@requires("view_models")
@require_GET
def segmentation_detail(request: HttpRequest, kind: str, version: int | None = None) -> HttpResponse:
    from modeling.models import SegmentationKind
    from modeling.segments import segmentation_get, segmentation_versions

    if kind not in SegmentationKind.values:
        raise Http404("No such kind of segmentation")
    segmentation = segmentation_get(kind=kind, version=version)
    if segmentation is None:
        raise Http404("No such segmentation version")
    return render(
        request,
        "frontend/segment_detail.html",
        {
            "segmentation": segmentation,
            "segments": list(segmentation.segments.all()),
            "versions": segmentation_versions(kind=kind),
            "chart": _selection_chart(segmentation),
            "can_manage": user_can(request.user, "manage_models"),
        },
    )


@requires("manage_models")
@require_http_methods(["POST"])
def segments_build(request: HttpRequest) -> HttpResponse:
    """Queue a rebuild of every segmentation and follow it on its task page."""
    from core.task_runs import task_run_enqueue
    from modeling.tasks import segments_build_task

    run = task_run_enqueue(
        segments_build_task,
        kwargs={"requested_by_id": request.user.pk},
        label="Build customer segments",
        requested_by=request.user,
    )
    return redirect("frontend:task-run-detail", task_id=run.task_id)
