from django.urls import path

from customers.events.apis import EventBatchCreateApi

urlpatterns = [
    path("events", EventBatchCreateApi.as_view(), name="events-create"),
]
