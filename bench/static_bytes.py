#!/usr/bin/env python
"""Measure the widget's bytes on the wire: what a browser downloads for it, and how it is cached.

    .venv/bin/python bench/static_bytes.py [BASE_URL]      (default http://127.0.0.1:8000)

Reads the home page, takes the widget's stylesheet and script from it (the URLs the page really
uses: hashed names once collectstatic has run), follows the script's ES-module imports, and asks
for each file twice: as a browser does (`Accept-Encoding: br, gzip`) and without compression. It
prints per file the status, Content-Encoding, bytes received and Cache-Control, then the totals;
the last line is JSON: {"files", "identity_bytes", "wire_bytes", "encodings", "cache_control"}.
"""

from __future__ import annotations

import json
import re
import sys
import urllib.request
from urllib.parse import urljoin

WIDGET = re.compile(r"""(?:href|src)="([^"]*chat/widget\.[0-9a-f.]*(?:js|css))\"""")
IMPORT = re.compile(r"""(?:import|export)\b[^;]*?from\s*["'](\.{1,2}/[^"']+)["']""", re.S)
BROWSER = "br, gzip, deflate"


def fetch(url: str, encoding: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Accept-Encoding": encoding})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - a URL we were given
        return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()


def widget_files(base: str) -> list[str]:
    """The widget's CSS and JS URLs from the home page, then every module the JS imports."""
    _, _, page = fetch(urljoin(base, "/"), "identity")
    queue = [urljoin(base, path) for path in WIDGET.findall(page.decode())]
    if not queue:
        raise SystemExit("the home page links no chat/widget.js or widget.css")
    seen: list[str] = []
    while queue:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.append(url)
        if url.endswith(".js"):
            _, _, body = fetch(url, "identity")
            queue += [urljoin(url, path) for path in IMPORT.findall(body.decode())]
    return seen


def measure(url: str) -> dict:
    status, headers, body = fetch(url, BROWSER)
    _, _, plain = fetch(url, "identity")
    return {
        "url": url,
        "status": status,
        "encoding": headers.get("content-encoding", "identity"),
        "wire_bytes": len(body),
        "identity_bytes": len(plain),
        "cache_control": headers.get("cache-control", ""),
    }


def main(argv: list[str]) -> int:
    base = argv[1] if len(argv) > 1 else "http://127.0.0.1:8000"
    rows = [measure(url) for url in widget_files(base)]
    for row in rows:
        name = row["url"].removeprefix(base)
        print(
            f"{row['status']} {name:<48} {row['encoding']:<9} {row['wire_bytes']:>7} B "
            f"(identity {row['identity_bytes']:>7} B)  Cache-Control: {row['cache_control'] or '-'}"
        )
    summary = {
        "files": len(rows),
        "identity_bytes": sum(r["identity_bytes"] for r in rows),
        "wire_bytes": sum(r["wire_bytes"] for r in rows),
        "encodings": sorted({r["encoding"] for r in rows}),
        "cache_control": sorted({r["cache_control"] for r in rows}),
    }
    wire, identity = summary["wire_bytes"], summary["identity_bytes"]
    print(f"total: {wire} B on the wire for {identity} B of files")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
