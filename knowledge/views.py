"""Help-center pages for knowledge-base entries (the links under the assistant's answers)."""

from django.shortcuts import render

from knowledge import selectors


def entry_detail(request, pk: int):
    entry = selectors.entry_get_public(pk=pk)
    context = {
        "entry": entry,
        "other_answers": selectors.entry_other_answers(entry=entry),
    }
    return render(request, "knowledge/entry.html", context)
