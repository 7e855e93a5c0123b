from django.urls import include, path

urlpatterns = [
    path("", include("customers.importing.urls")),
    path("", include("customers.events.urls")),
    path("", include("customers.api_urls")),
]
