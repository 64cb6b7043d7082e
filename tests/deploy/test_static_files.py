"""Static files as production serves them: hashed names, compressed, cached for a year.

collectstatic has run (tests/static_files.py): these requests go through ServeStatic's
middleware, the way daphne serves them, with DEBUG off.
"""

from __future__ import annotations

import http.client
import re
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync

from config.storages import minify
from tests.live import LiveServer, migrate_db

ROOT = Path(__file__).resolve().parents[2]
YEAR = "max-age=315360000, public, immutable"


def widget_urls(client) -> dict[str, str]:
    page = client.get("/").content.decode()
    hashed = r'(?:href|src)="(/static/chat/widget\.[0-9a-f]{12}\.(js|css))"'
    return dict(re.findall(hashed, page))


@async_to_sync
async def body(response) -> bytes:
    """The bytes of a file response (ServeStatic's responses stream asynchronously)."""
    return b"".join([chunk async for chunk in response.streaming_content])


@pytest.fixture
def urls(client, db):
    found = {kind: url for url, kind in widget_urls(client).items()}
    assert set(found) == {"js", "css"}, "the page links the widget by hashed names"
    return found


@pytest.mark.parametrize("accept, encoding", [("br, gzip", "br"), ("gzip", "gzip")])
def test_the_widget_is_sent_compressed_and_cached_for_a_year(client, urls, accept, encoding):
    for url in urls.values():
        compressed = client.get(url, HTTP_ACCEPT_ENCODING=accept)
        plain = client.get(url, HTTP_ACCEPT_ENCODING="identity")
        assert compressed.status_code == plain.status_code == 200
        assert compressed["Content-Encoding"] == encoding
        assert compressed["Cache-Control"] == YEAR
        assert "Accept-Encoding" in compressed["Vary"]
        assert int(compressed["Content-Length"]) < int(plain["Content-Length"]) / 2


def test_the_widgets_modules_import_each_other_by_hashed_name(client, urls):
    script = body(client.get(urls["js"], HTTP_ACCEPT_ENCODING="identity"))
    imports = re.findall(rb'from "\./([^"]+)"', script)
    assert imports and all(re.fullmatch(rb"[a-z0-9_]+\.[0-9a-f]{12}\.js", name) for name in imports)


def test_every_module_the_widget_loads_is_minified_and_found_by_its_hashed_name(client, urls):
    """Minification runs before hashing: each import, static or lazy, names a file that is there."""
    seen, todo = set(), [urls["js"].rsplit("/", 1)[1]]
    while todo:
        name = todo.pop()
        seen.add(name)
        response = client.get(f"/static/chat/{name}", HTTP_ACCEPT_ENCODING="identity")
        assert response.status_code == 200, name
        assert "immutable" in response["Cache-Control"], name
        script = body(response).decode()
        assert "\n  " not in script and "/*" not in script, f"{name} is not minified"
        for found in re.findall(r'(?:from|import)\s*\(?"\./([^"]+)"', script):
            assert re.fullmatch(r"[a-z0-9_]+\.[0-9a-f]{12}\.js", found), (name, found)
            if found not in seen:
                todo.append(found)
    modules = {p.name for p in (ROOT / "static/chat").glob("*.js")}
    assert {name.split(".")[0] + ".js" for name in seen} == modules  # the lazy ones included


def test_vendored_libraries_are_served_as_shipped(client, db):
    """Only our own scripts and styles are minified: Chart.js keeps its bytes (and licence)."""
    source = (ROOT / "static/vendor/chartjs/chart.umd.min.js").read_bytes()
    page = client.get("/static/vendor/chartjs/chart.umd.min.js", HTTP_ACCEPT_ENCODING="identity")
    assert page.status_code == 200
    assert body(page) == source


def test_our_scripts_are_minified(client, db):
    for path in sorted((ROOT / "static").rglob("*.js")):
        name = path.relative_to(ROOT / "static").as_posix()
        if "vendor" in path.parts:
            continue
        response = client.get(f"/static/{name}", HTTP_ACCEPT_ENCODING="identity")
        assert len(body(response)) < 0.8 * len(path.read_bytes()), name


def test_minifying_keeps_what_a_regular_expression_would_break():
    """A parser: nested template literals keep their spaces, a local name is shortened, an
    exported one is not, and a module import keeps the shape Django's hashing rewrites."""
    source = """import * as view from "./view.js";
export function label(count, name) {
  const plural = count === 1 ? "" : "s";
  return `${count} ${name ? ` (for ${name}) ` : ""} item${plural}`;
}"""
    out = minify("x.js", source)
    assert out.startswith('import*as view from"./view.js";')
    assert "export function label(" in out and "plural" not in out
    assert "` (for ${" in out and "}) `" in out
    assert minify("x.css", "a {  color : red ; }\n") == "a{color:red}"


def test_an_unhashed_name_still_works_but_is_cached_briefly(client, db):
    response = client.get("/static/chat/widget.js")
    assert response.status_code == 200
    assert "immutable" not in response["Cache-Control"]


@pytest.mark.parametrize(
    "path",
    [
        "/static/..%2f..%2fconfig/settings.py",
        "/static/../../config/settings.py",
        "/static/%2e%2e/x",
    ],
)
def test_a_path_that_climbs_out_of_static_is_not_found(client, db, path):
    response = client.get(path)
    assert response.status_code == 404
    assert b"SECRET_KEY" not in response.content


@pytest.mark.slow
def test_daphne_answers_404_to_a_path_that_climbs_out_of_static(tmp_path):
    migrate_db(tmp_path / "db.sqlite3")
    with LiveServer(db_path=tmp_path / "db.sqlite3") as server:
        for path in ("/static/..%2f..%2fconfig/settings.py", "/static/../../config/settings.py"):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            connection.request("GET", path)  # sent as is: http.client does not normalise
            response = connection.getresponse()
            body = response.read()
            connection.close()
            assert response.status == 404, (path, server.log_tail())
            assert b"SECRET_KEY" not in body
