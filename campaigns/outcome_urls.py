from django.urls import path

from campaigns.outcome_apis import DecisionResponseCreateApi

urlpatterns = [
    path("decisions/<str:decision_id>/responses", DecisionResponseCreateApi.as_view(), name="decision-responses"),
]
