from django.http import HttpResponse
from django.urls import path

app_name = "frontend"

urlpatterns = [
    path("", lambda r: HttpResponse("Crossell"), name="home"),
    path("login/", lambda r: HttpResponse("login"), name="login"),
]
