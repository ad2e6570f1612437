"""OPTIONS responses: what a view is and takes, without instantiating its serializers.

DRF's `SimpleMetadata` builds the view's serializer (and, for PUT, loads the object) to
describe its fields; on views that choose their serializer per request that is a 500. The
bodies are documented in the OpenAPI schema (`/api/schema/`), so OPTIONS says only this much.
"""

from rest_framework.metadata import BaseMetadata


class Metadata(BaseMetadata):
    def determine_metadata(self, request, view):
        return {
            "name": view.get_view_name(),
            "description": view.get_view_description(),
            "renders": [renderer.media_type for renderer in view.renderer_classes],
            "parses": [parser.media_type for parser in view.parser_classes],
            "schema": "/api/schema/",
        }
