from django import template

from knowledge.markdown import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str):
    """Render Markdown through the sanitiser: `{{ entry.body|markdown }}`."""
    return render_markdown(text)
