from django.urls import path

from core.apis import TaskRunDetailApi

urlpatterns = [
    path("task-runs/<str:task_id>", TaskRunDetailApi.as_view(), name="task-run-detail"),
]
