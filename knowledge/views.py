"""The help center's pages: an index by category, a category's questions, search, and one entry
(the page a chat source links to). Public pages: the knowledge base is what the assistant tells
every visitor anyway; inactive entries are never shown."""

from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render

from knowledge import selectors
from knowledge.search import distinct_titles

SEARCH_RESULTS = 20
SEARCH_MAX_CHARS = 200
CATEGORY_PAGE = 50

# Where an imported entry set comes from and under which licence: shown on each of its pages.
SOURCES = {
    "stackfaq": {
        "name": "StackFAQ",
        "cite": "M. Karan and J. Šnajder, Expert Systems with Applications 91, 2018",
        "url": "https://doi.org/10.1016/j.eswa.2017.09.044",
        "original": "Stack Exchange",
        "original_url": "https://stackexchange.com/",
        "licence": "CC BY-SA 3.0",
        "licence_url": "https://creativecommons.org/licenses/by-sa/3.0/",
    },
}


def help_center(request):
    return render(
        request,
        "knowledge/index.html",
        {"categories": selectors.category_counts(), "max_chars": SEARCH_MAX_CHARS},
    )


def category_detail(request, name: str):
    questions = selectors.category_questions(category=name)
    if not questions:
        raise Http404("No such category.")
    page = Paginator(questions, CATEGORY_PAGE).get_page(request.GET.get("page"))
    return render(request, "knowledge/category.html", {"category": name, "page": page})


def search(request):
    query = request.GET.get("q", "").strip()[:SEARCH_MAX_CHARS]
    hits = []
    if query:
        found = selectors.entry_search(query, limit=SEARCH_RESULTS * 3)
        hits = distinct_titles(found, SEARCH_RESULTS)
    context = {"query": query, "hits": hits, "max_chars": SEARCH_MAX_CHARS}
    return render(request, "knowledge/search.html", context)


def entry_detail(request, pk: int):
    entry = selectors.entry_get_public(pk=pk)
    context = {
        "entry": entry,
        "other_answers": selectors.entry_other_answers(entry=entry),
        "origin": SOURCES.get(entry.source),
    }
    return render(request, "knowledge/entry.html", context)
