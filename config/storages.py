"""How `collectstatic` writes static files: minified, hashed, gzip and Brotli copies, a manifest.

ServeStatic (WhiteNoise's fork with native ASGI: WhiteNoise's middleware is sync-only, so under
daphne Django would run every request, SSE streams included, through a thread) serves the result
with far-future cache headers; nginx or a CDN can serve STATIC_ROOT the same way.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.contrib.staticfiles.storage import HashedFilesMixin
from django.core.files.base import ContentFile
from servestatic.compress import Compressor
from servestatic.storage import CompressedManifestStaticFilesStorage

MEDIA_TYPES = {".js": "application/javascript", ".css": "text/css"}


def is_ours(path: str) -> bool:
    """Our own script or style sheet: vendored libraries and minified files stay as shipped."""
    p = PurePosixPath(path)
    return (
        p.suffix in MEDIA_TYPES
        and "vendor" not in p.parts
        and not p.name.endswith((".min.js", ".min.css"))
    )


def minify(name: str, text: str) -> str:
    """Minify `text` with tdewolff/minify (a parser, not a regular expression: local names are
    shortened, template literals kept). Imported here, at collectstatic, never by a web process."""
    import minify as tdewolff

    return tdewolff.string(MEDIA_TYPES[PurePosixPath(name).suffix], text)


class StaticStorage(CompressedManifestStaticFilesStorage):
    """The manifest storage, minifying our scripts and styles and hashing the widget's imports.

    Our `.js` and `.css` from STATICFILES_DIRS are minified (`minify`) before hashing, so a
    hashed name matches the minified bytes it serves; the unhashed copy is minified too, and the
    gzip copies of both are Zopfli's (`ZopfliCompressor`). The sources in the repository stay
    readable. Apps' static files (the admin's), `vendor/` folders
    and `*.min.*` files are copied as they are.

    `import ... from "./core.js"` becomes the hashed name, so a new release never mixes modules
    of two versions. Source-map comments are left alone: the vendored Chart.js names a map file
    that is not shipped, and a missing file would fail collectstatic.
    """

    support_js_module_import_aggregation = True
    _minified: set[str] = set()  # set anew by each post_process
    _zopfli_paths: frozenset[str] = frozenset()
    patterns = tuple(
        (glob, tuple(p for p in rules if "sourceMappingURL" not in str(p)))
        for glob, rules in HashedFilesMixin.patterns
    )

    def compress_files(self, paths):
        hashed = self.hashed_files
        own = self._minified | {hashed[name] for name in self._minified if name in hashed}
        self._zopfli_paths = frozenset(self.path(name) for name in paths if name in own)
        yield from super().compress_files(paths)

    def create_compressor(self, **kwargs):
        return ZopfliCompressor(zopfli_paths=self._zopfli_paths, **kwargs)

    def post_process(self, paths, dry_run=False, **options):
        self._minified = set()  # the names of our own files, written minified
        if not dry_run:
            paths = {name: self.minified(name, *source) for name, source in paths.items()}
        yield from super().post_process(paths, dry_run=dry_run, **options)

    def minified(self, name, storage, path):
        """Where the hashing reads `name` from: our minified copy in STATIC_ROOT, or the source."""
        if not (is_ours(name) and Path(storage.location).resolve() in own_static_dirs()):
            return storage, path
        with storage.open(path) as source:
            text = source.read().decode("utf-8")
        if self.exists(name):
            self.delete(name)  # the copy collectstatic made (a symbolic link with --link)
        self._save(name, ContentFile(minify(name, text).encode("utf-8")))
        self._minified.add(name)
        return self, name


class ZopfliCompressor(Compressor):
    """Writes the gzip copies of `zopfli_paths` (our own scripts and styles) with Zopfli: a gzip
    stream any client reads, about 2% smaller than zlib's level 9 (the widget's gzip budget), made
    once at collectstatic. Other files keep zlib: Zopfli takes a hundred times longer, and on
    the admin's and the vendored files would add about 15 s to every collectstatic."""

    def __init__(self, zopfli_paths=frozenset(), **kwargs):
        super().__init__(**kwargs)
        self.zopfli_paths = zopfli_paths

    def compress(self, path):
        written = super().compress(path)
        if os.fspath(path) in self.zopfli_paths:
            import zopfli.gzip  # collectstatic only

            with open(path, "rb") as f:
                data = f.read()
            for name in (n for n in written if n.endswith(".gz")):  # zlib's was worth keeping
                gz = zopfli.gzip.compress(data)  # header's mtime 0: the bytes depend on `data`
                if len(gz) < os.path.getsize(name):
                    self.write_data(os.fspath(path), gz, ".gz", os.stat(path))
        return written


def own_static_dirs() -> set[Path]:
    """STATICFILES_DIRS: the project's own static files (an app's are a library's)."""
    dirs = (d[1] if isinstance(d, (list, tuple)) else d for d in settings.STATICFILES_DIRS)
    return {Path(d).resolve() for d in dirs}
