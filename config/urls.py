from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from core.apis import HealthApi

api_v1 = [
    path("", include("customers.urls")),
    path("", include("core.urls")),
    path("", include("decisioning.urls")),
    path("", include("campaigns.urls")),
    path("", include("campaigns.outcome_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("healthz", HealthApi.as_view(), name="healthz"),
    path("", include("frontend.urls")),
]
