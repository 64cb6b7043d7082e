"""The dashboard's filters, from the query string (the export and the command share them)."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.utils import timezone

from analytics.selectors.dashboard import DEFAULT_DAYS, Filters

MAX_DAYS = 400


class FilterForm(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    user_type = forms.CharField(required=False, max_length=80)
    universe = forms.CharField(required=False, max_length=50)
    provider = forms.CharField(required=False, max_length=50)
    model = forms.CharField(required=False, max_length=200)

    def clean(self):
        data = super().clean()
        today = timezone.localdate()
        end = data.get("end") or today
        start = data.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise forms.ValidationError("The start date must be on or before the end date.")
        if (end - start).days >= MAX_DAYS:
            raise forms.ValidationError(f"Choose a range of at most {MAX_DAYS} days.")
        data["start"], data["end"] = start, end
        return data

    def filters(self, today: date | None = None) -> Filters:
        """The valid filters, or the default range when the form is invalid."""
        if not self.is_valid():
            return Filters.default(today)
        data = self.cleaned_data
        return Filters(
            start=data["start"],
            end=data["end"],
            user_type=data["user_type"].strip(),
            universe=data["universe"].strip(),
            provider=data["provider"].strip(),
            model=data["model"].strip(),
        )
