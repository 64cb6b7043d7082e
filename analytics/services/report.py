"""Keep and send weekly reports."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from analytics.models import WeeklyReport
from analytics.render import report_render


def report_save(*, report: dict) -> WeeklyReport:
    """Keep the report of its week; a second run for the same week replaces the first."""
    saved, _ = WeeklyReport.objects.update_or_create(
        week=report["week"], defaults={"data": report, "text": report_render(report, "text")}
    )
    return saved


def report_email(*, report: dict, recipients: list[str]) -> int:
    """Send the report (text, with the HTML as an alternative) through Django's email backend."""
    message = EmailMultiAlternatives(
        subject=f"{settings.CONCIERGE_SITE_NAME}: weekly report {report['week']}",
        body=report_render(report, "text"),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
    )
    message.attach_alternative(report_render(report, "html"), "text/html")
    return message.send()
