"""How `collectstatic` writes static files: hashed names, gzip and Brotli copies, a manifest.

ServeStatic (WhiteNoise's fork with native ASGI: WhiteNoise's middleware is sync-only, so under
daphne Django would run every request, SSE streams included, through a thread) serves the result
with far-future cache headers; nginx or a CDN can serve STATIC_ROOT the same way.
"""

from django.contrib.staticfiles.storage import HashedFilesMixin
from servestatic.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    """The manifest storage, hashing the widget's ES-module imports too.

    `import ... from "./dom.js"` becomes the hashed name, so a new release never mixes modules
    of two versions. Source-map comments are left alone: the vendored Chart.js names a map file
    that is not shipped, and a missing file would fail collectstatic.
    """

    support_js_module_import_aggregation = True
    patterns = tuple(
        (glob, tuple(p for p in rules if "sourceMappingURL" not in str(p)))
        for glob, rules in HashedFilesMixin.patterns
    )
