from django.urls import path

from customers.importing.apis import ImportStartApi

urlpatterns = [
    path("imports", ImportStartApi.as_view(), name="import-start"),
]
