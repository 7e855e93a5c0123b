from django.urls import path

from customers.apis import ConsentRecordApi, ContactDetailsEraseApi, CustomerDetailApi

urlpatterns = [
    path("customers/<str:customer_id>", CustomerDetailApi.as_view(), name="customer-detail"),
    path("customers/<str:customer_id>/consents", ConsentRecordApi.as_view(), name="customer-consent-record"),
    path(
        "customers/<str:customer_id>/erase-contact-details",
        ContactDetailsEraseApi.as_view(),
        name="customer-contact-details-erase",
    ),
]
