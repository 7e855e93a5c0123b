from django.contrib.auth import views as auth_views
from django.urls import path, register_converter

from frontend import (
    call_centre_views,
    campaign_views,
    channel_views,
    decision_views,
    performance_views,
    trigger_views,
    views,
)
from frontend import catalogue_views as offers

app_name = "frontend"
register_converter(campaign_views.CampaignCodeConverter, "campaign")

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="frontend/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("customers/", views.customer_search, name="customer-search"),
    path("customers/<str:external_id>/", views.customer_360, name="customer-360"),
    path("imports/", views.import_files, name="import"),
    path("tasks/", views.task_run_list, name="task-run-list"),
    path("tasks/<str:task_id>/", views.task_run_detail, name="task-run-detail"),
    path("audit/", views.audit_list, name="audit-list"),
    path("models/", views.model_list, name="model-list"),
    path("models/train/", views.models_train, name="models-train"),
    path("models/score/", views.scoring_start, name="scoring-start"),
    path("models/products/<str:product_code>/rollback/", views.model_rollback, name="model-rollback"),
    path("models/<str:public_id>/", views.model_detail, name="model-detail"),
    path("models/<str:public_id>/<str:action>/", views.model_action, name="model-action"),
    path("segments/", views.segment_list, name="segment-list"),
    path("segments/build/", views.segments_build, name="segments-build"),
    path("segments/<str:kind>/", views.segmentation_detail, name="segmentation-detail"),
    path("segments/<str:kind>/v<int:version>/", views.segmentation_detail, name="segmentation-version"),
    # Offer catalogue, rules, levers and contact policies
    path("catalogue/", offers.offer_catalogue, name="offer-catalogue"),
    path("catalogue/new-issue/", offers.issue_create, name="issue-create"),
    path("catalogue/issues/<slug:code>/", offers.issue_edit, name="issue-edit"),
    path("catalogue/new-group/", offers.group_create, name="group-create"),
    path("catalogue/groups/<slug:code>/", offers.group_edit, name="group-edit"),
    path("catalogue/new-offer/", offers.offer_create, name="offer-create"),
    path("catalogue/offers/<slug:code>/", offers.offer_edit, name="offer-edit"),
    path("catalogue/offers/<slug:code>/treatments/<str:channel>/", offers.treatment_edit, name="treatment-edit"),
    path("rules/", offers.rule_set_page, name="rule-set"),
    path("rules/new/", offers.rule_edit, name="rule-create"),
    path("rules/validate/", offers.rule_validate_json, name="rule-validate"),
    path("rules/publish/", offers.rule_set_publish_view, name="rule-set-publish"),
    path("rules/<str:rule_id>/edit/", offers.rule_edit, name="rule-edit"),
    path("rules/<str:rule_id>/delete/", offers.rule_delete, name="rule-delete"),
    path("levers/", offers.levers, name="levers"),
    path("contact-policies/", offers.contact_policy_list, name="contact-policy-list"),
    path("contact-policies/new/", offers.contact_policy_create, name="contact-policy-create"),
    path("contact-policies/<slug:code>/edit/", offers.contact_policy_edit, name="contact-policy-edit"),
    path("contact-policies/<slug:code>/active/", offers.contact_policy_active, name="contact-policy-active"),
    path("decisions/try/", decision_views.decision_try, name="decision-try"),
    # Campaigns (a campaign code never matches new, triggers or dead-letters: those are pages)
    # Event triggers of triggered campaigns
    path("campaigns/triggers/", trigger_views.trigger_list, name="trigger-list"),
    path("campaigns/triggers/new/", trigger_views.trigger_create_view, name="trigger-create"),
    path("campaigns/triggers/validate/", trigger_views.trigger_validate_form, name="trigger-validate"),
    path("campaigns/triggers/<slug:code>/", trigger_views.trigger_edit_view, name="trigger-edit"),
    path("campaigns/triggers/<slug:code>/active/", trigger_views.trigger_active_view, name="trigger-active"),
    path("campaigns/", campaign_views.campaign_list, name="campaign-list"),
    path("campaigns/new/", campaign_views.campaign_create, name="campaign-create"),
    path("campaigns/dead-letters/", campaign_views.dead_letters, name="dead-letters"),
    path("campaigns/dead-letters/retry/", campaign_views.dead_letters_retry_shown, name="dead-letters-retry"),
    path("campaigns/dead-letters/<int:pk>/retry/", campaign_views.dead_letter_retry, name="dead-letter-retry"),
    path("campaigns/<campaign:code>/", campaign_views.campaign_detail, name="campaign-detail"),
    path("campaigns/<campaign:code>/edit/", campaign_views.campaign_edit, name="campaign-edit"),
    path("campaigns/<campaign:code>/runs/", campaign_views.campaign_runs_json, name="campaign-runs"),
    path("campaigns/<campaign:code>/launch/", campaign_views.campaign_launch, name="campaign-launch"),
    path("campaigns/<campaign:code>/stop/", campaign_views.campaign_stop, name="campaign-stop"),
    # Delivery channels: the call-centre desktop, push gateway, unsubscribe links, web content example
    path("call-centre/", call_centre_views.call_centre, name="call-centre"),
    path(
        "call-centre/decisions/<uuid:decision_id>/", call_centre_views.call_centre_decision, name="call-centre-decision"
    ),
    path(
        "call-centre/decisions/<uuid:decision_id>/offers/<slug:offer_code>/",
        call_centre_views.call_centre_answer,
        name="call-centre-answer",
    ),
    path("settings/push-gateway/", channel_views.push_gateway_settings, name="push-gateway"),
    path("unsubscribe/<str:token>/", channel_views.unsubscribe, name="unsubscribe"),
    path("examples/web-content/", channel_views.web_content_example, name="web-content-example"),
    path("performance/", performance_views.performance_dashboard, name="performance"),
    path("performance/export.csv", performance_views.performance_export, name="performance-export"),
]
