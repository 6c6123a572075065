"""The worker process's form readers and parsed templates, cached by model versions and template text."""

from __future__ import annotations

import json

from django.conf import settings

from recognition import selectors

# FormReaders of this worker process by the model versions they read with,
# made on the first page task that needs them: models load lazily, never at
# import time and never before the worker forks. A promotion changes the
# active versions; the next task builds (once) a reader for them, so workers
# pick up a new model without a restart.
_form_readers: dict[tuple, object] = {}
# Parsed templates by their JSON text: the reader caches each template's
# alignment features per template object, so the same object must come back.
_engine_templates: dict[str, object] = {}
ENGINE_TEMPLATE_CACHE_SIZE = 32


def form_reader():
    """The worker process's FormReader for the active model versions (imports Keras on first use)."""
    versions = selectors.active_model_versions()
    key = tuple(sorted(versions.items()))
    reader = _form_readers.get(key)
    if reader is None:
        from recognition.engine.fields.reader import FormReader

        # The reader of superseded versions is dropped; its models stay in
        # the classifier cache of recognition.engine.characters.classify (a
        # few MB per version), so rolling back to them costs no reload.
        _form_readers.clear()
        reader = _form_readers[key] = FormReader(settings.MODEL_DIR, versions=versions or None)
    return reader


def engine_template(definition: dict):
    """The engine's FormTemplate for a template document, parsed once per worker process."""
    key = json.dumps(definition, sort_keys=True)
    template = _engine_templates.get(key)
    if template is None:
        from recognition.engine.pages.templates import parse_template

        template = parse_template(definition)
        if len(_engine_templates) >= ENGINE_TEMPLATE_CACHE_SIZE:
            _engine_templates.clear()
        _engine_templates[key] = template
    return template


def read_page(definition: dict, page_image):
    """Read one page image against a template document with this process's FormReader."""
    return form_reader().read_page(engine_template(definition), page_image)
