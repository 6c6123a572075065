"""REST API views (Django REST framework): translate HTTP to services and selectors."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from recognition import selectors


class HealthView(APIView):
    """Whether the database, the broker and at least one worker are reachable."""

    @extend_schema(
        responses=inline_serializer(
            "Health",
            {
                "database": serializers.BooleanField(),
                "broker": serializers.BooleanField(),
                "workers": serializers.ListField(child=serializers.CharField()),
            },
        )
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.system_status())
