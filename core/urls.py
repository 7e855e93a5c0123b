from django.urls import path

from core.apis import TaskRunDetailApi, WhoAmIApi

urlpatterns = [
    path("whoami", WhoAmIApi.as_view(), name="whoami"),
    path("task-runs/<str:task_id>", TaskRunDetailApi.as_view(), name="task-run-detail"),
]
