from django.urls import path

from decisioning.apis import DecisionApi

urlpatterns = [
    path("decisions", DecisionApi.as_view(), name="decisions"),
]
