from __future__ import annotations

from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.models import TaskRun
from core.permissions import staff_capability


class HealthApi(APIView):
    """Liveness for load balancers: the process answers and the database responds."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        status = serializers.CharField()

    @extend_schema(responses=OutputSerializer, exclude=True)
    def get(self, request: Request) -> Response:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return Response({"status": "ok"})


class TaskRunOutputSerializer(serializers.ModelSerializer):
    percent = serializers.IntegerField(allow_null=True)
    requested_by = serializers.CharField(source="requested_by.username", default=None)

    class Meta:
        model = TaskRun
        fields = [
            "task_id",
            "name",
            "label",
            "state",
            "done",
            "total",
            "percent",
            "message",
            "error",
            "result",
            "attempts",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
        ]


class TaskRunDetailApi(APIView):
    permission_classes = [staff_capability("view_tasks")]

    @extend_schema(responses=TaskRunOutputSerializer, operation_id="task_run_detail")
    def get(self, request: Request, task_id: str) -> Response:
        run = TaskRun.objects.select_related("requested_by").filter(task_id=task_id).first()
        if run is None:
            from rest_framework.exceptions import NotFound

            raise NotFound(f"no task run {task_id}")
        return Response(TaskRunOutputSerializer(run).data)
