from django.urls import path

from campaigns.apis import WebContentApi

urlpatterns = [
    path("web-content", WebContentApi.as_view(), name="web-content"),
]
