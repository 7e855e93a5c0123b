"""``POST /api/v1/imports``: upload the bank's files and start their import as a task."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from config.api import ProblemError
from core.permissions import staff_capability
from customers.importing.services import ImportFailed, import_start


class ImportStartApi(APIView):
    """Start an import of one or more files named by entity (customers.csv, transactions.parquet...).

    Returns 202 with the task run to poll; the files are validated by the task,
    and any errors appear in the run's result."""

    permission_classes = [staff_capability("run_imports")]
    parser_classes = [MultiPartParser]

    @extend_schema_serializer(component_name="ImportStartInput")
    class InputSerializer(serializers.Serializer):
        files = serializers.ListField(
            child=serializers.FileField(), allow_empty=False, help_text="Files named by entity, e.g. customers.csv."
        )
        dry_run = serializers.BooleanField(default=False, help_text="Validate only; write nothing.")

    @extend_schema_serializer(component_name="ImportStartOutput")
    class OutputSerializer(serializers.Serializer):
        task_id = serializers.CharField()
        state = serializers.CharField()
        url = serializers.CharField(help_text="The task run to poll for progress and result.")

    @extend_schema(
        operation_id="import_start",
        request={"multipart/form-data": InputSerializer},
        responses={202: OutputSerializer, 400: OpenApiResponse(), 403: OpenApiResponse()},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(
            data={"files": request.FILES.getlist("files"), "dry_run": request.data.get("dry_run", False)}
        )
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            run = import_start(uploaded=data["files"], dry_run=data["dry_run"], actor=request.user)
        except ImportFailed as failed:
            raise ProblemError(
                status_code=status.HTTP_400_BAD_REQUEST,
                title="Files not accepted",
                detail=str(failed),
                type_="import-files",
                errors=[{"pointer": "#/files", "detail": str(e)} for e in failed.errors],
            ) from failed
        url = reverse("task-run-detail", kwargs={"task_id": run.task_id}, request=request)
        body = self.OutputSerializer({"task_id": run.task_id, "state": run.state, "url": url}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": url})
