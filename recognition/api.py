"""REST API views (Django REST framework): translate HTTP to services and selectors."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from recognition import selectors
from recognition.exceptions import Forbidden
from recognition.lockout import LOCKED_OUT_STATUS, locked_out_answer
from recognition.models import Document, FieldResult, ModelVersion, TrainingSample, UploadBatch
from recognition.permissions import IsAdmin, IsAdminOrReadOnly, IsReviewer, can_upload, is_reviewer
from recognition.serializers import (
    BatchSerializer,
    DocumentDetailSerializer,
    DocumentProgressSerializer,
    DocumentSerializer,
    DocumentUploadSerializer,
    FieldAcceptSerializer,
    FieldCorrectSerializer,
    FieldSerializer,
    ModelChangeSerializer,
    ModelPromoteSerializer,
    ModelRollbackSerializer,
    ModelVersionSerializer,
    RetrainingRequestSerializer,
    RetrainingRunSerializer,
    StaleFieldSerializer,
    TemplateCreateSerializer,
    TemplateSerializer,
    TrainingSampleImportResultSerializer,
    TrainingSampleImportSerializer,
    TrainingSampleSerializer,
)
from recognition.services.accounts import api_token_get_or_create
from recognition.services.documents import batch_upload
from recognition.services.models import check_model_kind, model_promote, model_rollback
from recognition.services.retraining import retraining_request, training_sample_set_excluded
from recognition.services.review import field_accept, field_correct
from recognition.services.samples import samples_import_zip
from recognition.services.templates import template_save

# Ids are 64-bit: a larger number names nothing (and SQLite cannot even compare with it).
MAX_ID = 2**63 - 1


def id_parameter(value: str, name: str) -> int:
    """A query parameter that names a row by id; a 400 that says why when it cannot."""
    if not value.isdigit() or not 0 < int(value) <= MAX_ID:
        raise serializers.ValidationError({name: [f"Give a {name} id: a whole number from 1 to {MAX_ID}."]})
    return int(value)


class AuthTokenView(ObtainAuthToken):
    """Trade a user name and password for the user's API token (made on first use)."""

    parser_classes = [JSONParser, FormParser, MultiPartParser]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        request=AuthTokenSerializer,
        responses={
            200: inline_serializer("AuthTokenAnswer", {"token": serializers.CharField()}),
            429: inline_serializer(
                "LockedOut", {"detail": serializers.CharField(), "code": serializers.CharField()}
            ),
        },
        auth=[],
    )
    def post(self, request: Request, *args, **kwargs) -> Response:
        body = self.get_serializer(data=request.data)
        if not body.is_valid():
            # django-axes marks the request it was given (this DRF request) when the user name and
            # address are locked out; its middleware only sees the Django request, so answer here.
            if getattr(request, "axes_locked_out", False):
                return Response(locked_out_answer(), status=LOCKED_OUT_STATUS)
            raise serializers.ValidationError(body.errors)
        token = api_token_get_or_create(user=body.validated_data["user"])
        return Response({"token": token.key})


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


class DocumentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Documents the caller may see: their own (reviewers and admins: all). POST uploads files."""

    parser_classes = [MultiPartParser, FormParser]
    queryset = Document.objects.none()  # for the schema; get_queryset gives the caller's documents
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.document_list_for_user(user=self.request.user)

    def get_serializer_class(self):
        if self.action == "retrieve":
            return DocumentDetailSerializer
        if self.action == "create":
            return DocumentUploadSerializer
        return DocumentSerializer

    @extend_schema(
        request={"multipart/form-data": DocumentUploadSerializer}, responses={201: DocumentDetailSerializer}
    )
    def create(self, request: Request) -> Response:
        if not can_upload(request.user):
            raise Forbidden("Your account may not upload documents.")
        upload = DocumentUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        # A document per file; the answer is the first (the only one for one file), whose `batch`
        # names them all (GET /api/batches/{id}/).
        batch = batch_upload(
            owner=request.user,
            template=upload.validated_data["template"],
            files=upload.validated_data["files"],
        )
        document = batch.documents.order_by("pk").first()
        return Response(DocumentDetailSerializer(document).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses=inline_serializer(
            "DocumentResults",
            {
                "document": serializers.IntegerField(),
                "name": serializers.CharField(),
                "template": serializers.CharField(),
                "status": serializers.CharField(),
                "created": serializers.DateTimeField(),
                "pages": serializers.ListField(child=serializers.DictField()),
            },
        )
    )
    @action(detail=True, methods=["get"])
    def results(self, request: Request, pk: str | None = None) -> Response:
        """Per page, a hwr-form-result/1 document with the reviewers' corrections applied."""
        document = selectors.document_get_for_user(user=request.user, document_id=int(pk))
        return Response(selectors.document_results(document=document))

    @extend_schema(responses=DocumentProgressSerializer)
    @action(detail=True, methods=["get"])
    def progress(self, request: Request, pk: str | None = None) -> Response:
        """Page counts by status, for polling."""
        document = selectors.document_get_for_user(user=request.user, document_id=int(pk))
        return Response(selectors.document_progress(document=document))


class BatchViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Upload batches the caller may see, each with its documents' progress. POST uploads files: a
    document per file (a PDF or TIFF of several pages is one document)."""

    serializer_class = BatchSerializer
    parser_classes = [MultiPartParser, FormParser]
    queryset = UploadBatch.objects.none()  # for the schema; get_queryset gives the caller's batches
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.batch_list_for_user(user=self.request.user)

    @extend_schema(
        request={"multipart/form-data": DocumentUploadSerializer}, responses={201: BatchSerializer}
    )
    def create(self, request: Request) -> Response:
        if not can_upload(request.user):
            raise Forbidden("Your account may not upload documents.")
        upload = DocumentUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        batch = batch_upload(
            owner=request.user,
            template=upload.validated_data["template"],
            files=upload.validated_data["files"],
        )
        return Response(BatchSerializer(batch).data, status=status.HTTP_201_CREATED)


class FieldViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Recognized fields the caller may see; `?needs_review=true` gives the review queue's order."""

    serializer_class = FieldSerializer
    parser_classes = [JSONParser, FormParser, MultiPartParser]
    queryset = FieldResult.objects.none()  # for the schema; get_queryset gives the caller's fields
    lookup_value_regex = r"\d+"

    @extend_schema(
        parameters=[
            OpenApiParameter("document", int, description="Only this document's fields."),
            OpenApiParameter(
                "needs_review", bool, description="Only fields waiting for a person, least sure first."
            ),
        ]
    )
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    def get_permissions(self):
        if self.action in ("correct", "accept"):
            return [IsAuthenticated(), IsReviewer()]
        return super().get_permissions()

    def get_queryset(self):
        params = self.request.query_params
        if params.get("needs_review", "").lower() in ("1", "true", "yes"):
            if not is_reviewer(self.request.user):
                raise Forbidden("Only reviewers see the review queue.")
            fields = selectors.review_queue(user=self.request.user)
        else:
            fields = selectors.field_list_for_user(user=self.request.user).order_by(
                "page__document_id", "page__number", "position"
            )
        document = params.get("document")
        if document is not None:
            fields = fields.filter(page__document_id=id_parameter(document, "document"))
        return fields

    @extend_schema(
        request=FieldCorrectSerializer, responses={200: FieldSerializer, 409: StaleFieldSerializer}
    )
    @action(detail=True, methods=["post"])
    def correct(self, request: Request, pk: str | None = None) -> Response:
        """Save a person's text for the field (a Correction and training samples are recorded)."""
        field = selectors.field_get_for_user(user=request.user, field_id=int(pk))
        body = FieldCorrectSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        field = field_correct(
            field_id=field.pk,
            user=request.user,
            text=body.validated_data["text"],
            version=body.validated_data.get("version"),
        )
        return Response(FieldSerializer(field).data)

    @extend_schema(request=FieldAcceptSerializer, responses={200: FieldSerializer, 409: StaleFieldSerializer})
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str | None = None) -> Response:
        """Accept the field as read."""
        field = selectors.field_get_for_user(user=request.user, field_id=int(pk))
        body = FieldAcceptSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        field = field_accept(field_id=field.pk, user=request.user, version=body.validated_data.get("version"))
        return Response(FieldSerializer(field).data)


class TemplateViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Form templates; admins may create one from a format-1 JSON and its blank image."""

    permission_classes = [IsAdminOrReadOnly]
    lookup_value_regex = r"\d+"
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self):
        return selectors.template_list()

    def get_serializer_class(self):
        return TemplateCreateSerializer if self.action == "create" else TemplateSerializer

    @extend_schema(
        request={"multipart/form-data": TemplateCreateSerializer}, responses={201: TemplateSerializer}
    )
    def create(self, request: Request) -> Response:
        body = TemplateCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        template = template_save(
            definition=body.validated_data["definition"],
            image_data=body.validated_data["image"].read(),
            kind=body.validated_data["kind"],
        )
        return Response(TemplateSerializer(template).data, status=status.HTTP_201_CREATED)


class ModelVersionViewSet(viewsets.ReadOnlyModelViewSet):
    """Trained character models known to the system and their standing; admins promote and roll back."""

    serializer_class = ModelVersionSerializer
    lookup_value_regex = r"\d+"
    queryset = ModelVersion.objects.none()  # for the schema; get_queryset gives the list

    def get_queryset(self):
        return selectors.model_version_list()

    def get_permissions(self):
        if self.action in ("promote", "rollback", "changes"):
            return [IsAuthenticated(), IsAdmin()]
        return super().get_permissions()

    @extend_schema(request=ModelPromoteSerializer, responses=ModelVersionSerializer)
    @action(detail=True, methods=["post"])
    def promote(self, request: Request, pk: str | None = None) -> Response:
        """Make this version active by hand; the reason is recorded."""
        body = ModelPromoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = model_promote(version_id=int(pk), user=request.user, reason=body.validated_data["reason"])
        return Response(ModelVersionSerializer(version).data)

    @extend_schema(request=ModelRollbackSerializer, responses=ModelVersionSerializer)
    @action(detail=False, methods=["post"])
    def rollback(self, request: Request) -> Response:
        """Make the version that was active before the current one of a kind active again."""
        body = ModelRollbackSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = model_rollback(user=request.user, **body.validated_data)
        return Response(ModelVersionSerializer(version).data)

    @extend_schema(responses=ModelChangeSerializer(many=True))
    @action(detail=False, methods=["get"])
    def changes(self, request: Request) -> Response:
        """Who changed which version is active, when and why (newest first)."""
        changes = self.paginate_queryset(selectors.model_change_list())
        return self.get_paginated_response(ModelChangeSerializer(changes, many=True).data)


class RetrainingRunViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Retraining runs with their live progress; POST {"kind": ...} queues one (admins)."""

    serializer_class = RetrainingRunSerializer
    permission_classes = [IsAuthenticated, IsAdmin]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.retraining_runs()

    @extend_schema(request=RetrainingRequestSerializer, responses={201: RetrainingRunSerializer})
    def create(self, request: Request) -> Response:
        body = RetrainingRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = retraining_request(kind=body.validated_data["kind"], user=request.user)
        return Response(RetrainingRunSerializer(run).data, status=status.HTTP_201_CREATED)


class TrainingSampleViewSet(mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    """The retraining queue's samples; PATCH {"excluded": true} leaves a wrongly labelled one out (admins)."""

    serializer_class = TrainingSampleSerializer
    permission_classes = [IsAuthenticated, IsAdmin]
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "patch", "post", "head", "options"]

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, description="Only samples a model of this kind learns from."),
        ]
    )
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        kind = self.request.query_params.get("kind")
        if kind:
            return selectors.training_sample_gallery(kind=check_model_kind(kind=kind))
        return TrainingSample.objects.order_by("-id")

    def perform_update(self, serializer) -> None:
        excluded = serializer.validated_data.get("excluded")
        if excluded is not None:
            serializer.instance = training_sample_set_excluded(
                sample_id=serializer.instance.pk, excluded=excluded
            )

    @extend_schema(
        request={"multipart/form-data": TrainingSampleImportSerializer},
        responses={201: TrainingSampleImportResultSerializer},
    )
    @action(
        detail=False, methods=["post"], url_path="import", url_name="import", parser_classes=[MultiPartParser]
    )
    def import_samples(self, request: Request) -> Response:
        """Import keyed fields (a zip with labels.tsv and its images) as whole-field samples; one bad
        line refuses the whole zip, naming every bad line."""
        body = TrainingSampleImportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        samples = samples_import_zip(
            archive=upload, kind=body.validated_data["kind"], user=request.user, name=upload.name
        )
        return Response(
            {"imported": len(samples), "ids": [sample.pk for sample in samples]},
            status=status.HTTP_201_CREATED,
        )
