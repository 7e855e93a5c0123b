from django.contrib.auth import views as auth_views
from django.urls import path

from frontend import views

app_name = "frontend"

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
]
