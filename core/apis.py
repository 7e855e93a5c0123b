from __future__ import annotations

from django.db import connection
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.models import ApiClient, TaskRun, User
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


class WhoAmIApi(APIView):
    """Who the credentials belong to: a channel system's token with its scopes, or a
    person with their role. Any authenticated caller may ask, so a channel can check
    its token and scopes without touching customer data."""

    # Every authenticated caller, channel or person, whatever its scopes or role. It
    # also serves the benchmarks (bench/decision_bench.py) as the bare authenticated
    # endpoint that the decision API's throughput is compared with.
    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="WhoAmI")
    class OutputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=[("api_client", "API client"), ("user", "User")])
        name = serializers.CharField(help_text="The API client's name or the person's username.")
        scopes = serializers.ListField(
            child=serializers.CharField(), help_text="The token's scopes; empty for a person."
        )
        role = serializers.CharField(allow_null=True, help_text="The person's role; null for an API client.")

    @extend_schema(
        operation_id="whoami",
        responses={200: OutputSerializer, 401: OpenApiResponse(description="No, unknown or revoked credentials.")},
    )
    def get(self, request: Request) -> Response:
        caller = request.user
        if isinstance(caller, ApiClient):
            body = {"kind": "api_client", "name": caller.name, "scopes": sorted(caller.scopes), "role": None}
        elif isinstance(caller, User):
            body = {"kind": "user", "name": caller.get_username(), "scopes": [], "role": caller.role}
        else:  # IsAuthenticated admits only the two kinds above
            raise NotAuthenticated()
        return Response(self.OutputSerializer(body).data)


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
